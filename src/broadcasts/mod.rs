//! Broadcasts: one message sent to up to 100,000 recipients of one integration, within the
//! integration's rate limit (the channels domain's, shared with replies), each recipient
//! claimed before it is sent and marked after, so that a stopped server resumes without
//! sending anyone twice or losing anyone; followed live on `broadcastProgress`.
//!
//! The domain's one public face: what the server wires.

mod claims;
mod config;
mod entity;
mod events;
mod graphql;
mod lifecycle;
mod recipients;
mod rest;
mod runner;
mod sender;
mod service;
mod store;

use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::domain::Domain;
use crate::services::Services;

pub use config::BroadcastsConfig;
pub use entity::{BroadcastStatus, RecipientStatus};
pub use graphql::{
    BroadcastsMutation as Mutation, BroadcastsQuery as Query,
    BroadcastsSubscription as Subscription,
};

pub struct Broadcasts;
pub const DOMAIN: Broadcasts = Broadcasts;

impl Domain for Broadcasts {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    /// Starting due broadcasts and sending them, on every instance.
    fn background(
        &self,
        services: Services,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        Some(runner::run(services, shutdown).boxed())
    }
}
