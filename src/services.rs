//! The shared services every resolver, route, job and worker reaches, built once at start-up.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// What domains keep in memory for this instance (a rate limiter's reserved slots).
    pub locals: Locals,
}

/// In-memory state a domain keeps for this instance between calls, one value per type, made
/// on first use. The house holds it without knowing the types, so it imports no domain.
#[derive(Default)]
pub struct Locals(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Locals {
    /// This instance's `T`.
    pub fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut values = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        value
            .downcast::<T>()
            .unwrap_or_else(|_| Arc::new(T::default()))
    }
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
