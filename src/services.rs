//! The shared services every resolver, route, job and worker reaches, built once at start-up.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, JwtKeys};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::jobs::JobQueue;
use crate::providers::storage::Storage;
use crate::providers::Providers;
use crate::secrets::SecretBox;

#[derive(Clone)]
pub struct Services(Arc<ServicesInner>);

pub struct ServicesInner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub bus: EventBus,
    pub jobs: JobQueue,
    pub auth: Authenticator,
    pub jwt: JwtKeys,
    pub providers: Providers,
    /// Where media bytes are kept.
    pub storage: Storage,
    /// Seals and opens the provider credentials stored in the database.
    pub secrets: SecretBox,
    /// The time the domain rules read (tests move it).
    pub clock: Clock,
    /// Cancelled when the server stops; long-lived streams end on it.
    pub shutdown: CancellationToken,
}

impl Services {
    pub fn new(inner: ServicesInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for Services {
    type Target = ServicesInner;
    fn deref(&self) -> &ServicesInner {
        &self.0
    }
}
