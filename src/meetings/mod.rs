//! Meeting bots: a bot joins a call through the bot service, its status is tracked and pushed
//! live, and its recording becomes a transcript, a summary and Jira issues.
//!
//! The domain's one public face: what the server wires (routes, GraphQL roots, the loader,
//! job handlers, the sync) and what tests and benchmarks drive directly.

mod analysis;
mod config;
pub mod entity;
mod events;
mod graphql;
mod issues;
mod lifecycle;
mod link;
mod pipeline;
mod remote;
mod rest;
mod retention;
mod service;
mod status;
mod store;
mod sync;
mod timelines;
mod vexa_feed;
mod vexa_ws;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::domain::Domain;
use crate::jobs::JobHandler;
use crate::services::Services;

pub use config::MeetingsConfig;
pub use events::{BotStatusChange, TranscriptSegment};
pub use graphql::{
    MeetingsMutation as Mutation, MeetingsQuery as Query, MeetingsSubscription as Subscription,
};
pub use lifecycle::{change_status, change_status_from, Transition};
pub use link::MeetingPlatform;
pub use retention::PURGE_KIND;
pub use service::{trigger, TriggerInput};
pub use status::{BotStatus, ChangeSource};
pub use store::{load, MeetingBot};
pub use sync::{sync_once, SyncLeader, SyncReport};

pub struct Meetings;
pub const DOMAIN: Meetings = Meetings;

impl Domain for Meetings {
    /// The seed's REST API and Vexa's meeting WebSocket (`/ws`).
    fn routes(&self) -> Router<Services> {
        rest::routes().merge(vexa_ws::routes())
    }

    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![
            pipeline::Pipeline::handler(services.clone()),
            retention::Purge::handler(services.clone()),
        ]
    }

    /// The status sync (unless its interval is 0) and the hourly retention purge.
    fn background(
        &self,
        services: Services,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        let sync = sync::keep_in_sync(services.clone(), shutdown.clone());
        let purge = crate::jobs::enqueue_hourly(services.jobs.clone(), PURGE_KIND, shutdown);
        Some(futures_util::future::join(sync, purge).map(|_| ()).boxed())
    }
}

/// The batch loader of bots' histories, transcripts and tasks, for the schema's data.
pub fn loader(services: &Services) -> DataLoader<store::BotChildren> {
    store::loader(services.db.clone())
}
