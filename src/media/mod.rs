//! Memorial media: memorials (an organisation's albums) holding photos and videos that are
//! streamed in, checked by their content, probed and thumbnailed, kept in object storage and
//! served by signed links; and photos animated into talking videos by D-ID or HeyGen.
//!
//! The domain's one public face: what the server wires.

mod animation;
mod animation_job;
mod config;
mod entity;
mod format;
mod graphql;
mod ingest;
mod links;
mod probe;
mod rest;
mod serve;
mod service;
mod store;

use std::sync::Arc;

use axum::Router;

use crate::domain::Domain;
use crate::jobs::JobHandler;
use crate::services::Services;

pub use config::MediaConfig;
pub use entity::{AnimationProvider, AnimationStatus};
pub use format::{Format, MediaKind};
pub use graphql::{
    MediaMutation as Mutation, MediaQuery as Query, MediaSubscription as Subscription,
};

pub struct Media;
pub const DOMAIN: Media = Media;

impl Domain for Media {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    fn upload_routes(&self) -> Router<Services> {
        rest::upload_routes()
    }

    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![animation_job::AnimateHandler::handler(services.clone())]
    }
}
