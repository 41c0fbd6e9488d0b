//! What a domain offers the server. `lib.rs` lists the domains; each says here what it adds,
//! so a new domain is registered in one line (plus its GraphQL roots in `graphql/mod.rs`).

use std::sync::Arc;

use axum::Router;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::jobs::JobHandler;
use crate::services::Services;

pub trait Domain: Sync {
    /// Its REST routes and provider webhooks.
    fn routes(&self) -> Router<Services> {
        Router::new()
    }

    /// Its routes that take large bodies (uploads): they get the upload limit
    /// (MEDIA_MAX_BYTES) instead of REQUEST_BODY_LIMIT.
    fn upload_routes(&self) -> Router<Services> {
        Router::new()
    }

    /// The handlers of its durable jobs.
    fn job_handlers(&self, _services: &Services) -> Vec<Arc<dyn JobHandler>> {
        Vec::new()
    }

    /// Work it keeps doing until `shutdown` (polls, schedules).
    fn background(
        &self,
        _services: Services,
        _shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        None
    }
}
