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
mod in_flight;
mod outbox;
mod rest;
mod service;
mod signing;
mod store;

use std::time::Duration;

use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::config::JobsConfig;
use crate::domain::Domain;
use crate::jobs::Worker;
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

    /// Deliveries run in a worker of their own, WEBHOOKS_CONCURRENCY at once: endpoints that
    /// answer slowly hold its slots, never those of the pipeline or the broadcasts.
    fn background(
        &self,
        services: Services,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        let config = &services.config;
        if config.jobs.disabled {
            return None;
        }
        let pool = JobsConfig {
            concurrency: config.webhooks.delivery_concurrency,
            ..config.jobs.clone()
        };
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let worker = Worker::new(services.db.clone(), services.jobs.clone(), pool)
            .register(delivery::DeliverHandler::handler(services.clone()));
        Some(worker.run(shutdown, grace).boxed())
    }
}
