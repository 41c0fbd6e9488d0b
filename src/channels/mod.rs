//! Channels: the integrations that bind an agent to a Telegram bot, a WhatsApp Cloud number,
//! an Instagram account or a WhatsApp phone paired through WAHA (or a sandbox one); their
//! webhooks and Telegram long polling,
//! which turn what customers write into durable jobs; and the server's health as the seed's
//! agents platform reported it.
//!
//! The domain's one public face: what the server wires, and what the conversations domain
//! uses (it handles the jobs of [`INBOUND_JOB`] and [`DELIVERY_JOB`], and sends with
//! [`send_text`]), and broadcasts use. Every send waits for the integration's one rate limit
//! ([`permit`]). Channels never imports conversations or broadcasts.

mod config;
mod credentials;
mod device;
mod entity;
mod graphql;
mod health;
mod inbound;
mod lifecycle;
mod limiter;
mod outbound;
mod polling;
mod remote;
mod rest;
mod service;
mod store;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::domain::Domain;
use crate::jobs::JobHandler;
use crate::services::Services;

pub use config::ChannelsConfig;
pub use device::phone_digits;
pub use entity::{IntegrationKind, IntegrationState, ReceiveMode, SessionStatus};
pub use graphql::{ChannelsMutation as Mutation, ChannelsQuery as Query};
pub use health::{health_status, integration_counts, HealthStatus, IntegrationCount};
pub use inbound::{Delivery, Inbound, DELIVERY_JOB, INBOUND_JOB};
pub use lifecycle::fail;
pub use limiter::{permit, rate as send_rate, SendPermit};
pub use outbound::{channel_name, send_permitted, send_text};
pub use store::{get, list, load, same_account, Integration};

pub struct Channels;
pub const DOMAIN: Channels = Channels;

impl Domain for Channels {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    /// The sandbox's pretend pairing of WhatsApp devices.
    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![device::SandboxPairHandler::handler(services.clone())]
    }

    /// Telegram long polling, for the bots that receive that way.
    fn background(
        &self,
        services: Services,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        Some(polling::keep_polling(services, shutdown).boxed())
    }
}
