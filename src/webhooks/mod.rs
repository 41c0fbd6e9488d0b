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
mod ordering;
mod outbox;
mod rest;
mod retention;
mod service;
mod signing;
mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::config::JobsConfig;
use crate::domain::Domain;
use crate::jobs::{JobHandler, Worker};
use crate::services::Services;

pub use config::WebhooksConfig;
pub use entity::EventType;
pub use graphql::{WebhooksMutation as Mutation, WebhooksQuery as Query};
pub use outbox::{emit_on, Outgoing};
pub use retention::PURGE_KIND;

pub struct Webhooks;
pub const DOMAIN: Webhooks = Webhooks;

impl Domain for Webhooks {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![retention::Purge::handler(services.clone())]
    }

    /// Deliveries run in a worker of their own, WEBHOOKS_CONCURRENCY at once: endpoints that
    /// answer slowly hold its slots, never those of the pipeline or the broadcasts. And the
    /// hourly retention sweep is scheduled.
    fn background(
        &self,
        services: Services,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        let purge =
            crate::jobs::enqueue_hourly(services.jobs.clone(), PURGE_KIND, shutdown.clone());
        let config = &services.config;
        if config.jobs.disabled {
            return Some(purge.boxed());
        }
        let pool = JobsConfig {
            concurrency: config.webhooks.delivery_concurrency,
            ..config.jobs.clone()
        };
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let worker = Worker::new(services.db.clone(), services.jobs.clone(), pool)
            .register(delivery::DeliverHandler::handler(services.clone()));
        let deliveries = worker.run(shutdown, grace);
        Some(
            futures_util::future::join(deliveries, purge)
                .map(drop)
                .boxed(),
        )
    }
}
