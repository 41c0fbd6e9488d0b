//! Outgoing webhooks: integrators register an endpoint and the event types it wants; every
//! such event of their organisation is recorded with the change it reports and delivered
//! to it by a durable job, signed the Standard Webhooks way, retried for about a day, in
//! order where the events have one, with a log of every delivery.
//!
//! The domain's one public face: what the server wires, and the hook the other domains
//! call in the transaction of a change ([`emit_on`]).

mod config;
mod delivery;
mod entity;
mod graphql;
mod outbox;
mod rest;
mod service;
mod signing;
mod store;

use std::sync::Arc;

use axum::Router;

use crate::domain::Domain;
use crate::jobs::JobHandler;
use crate::services::Services;

pub use config::WebhooksConfig;
pub use entity::EventType;
pub use graphql::{WebhooksMutation as Mutation, WebhooksQuery as Query};
pub use outbox::{emit_on, Outgoing};

pub struct Webhooks;
pub const DOMAIN: Webhooks = Webhooks;

impl Domain for Webhooks {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![delivery::DeliverHandler::handler(services.clone())]
    }
}
