use async_graphql::{Context, Object, SimpleObject};

use super::ContextExt;
use crate::providers::ProviderHealth;

#[derive(SimpleObject)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    pub status: String,
    pub version: String,
    /// Simulated providers are in use: nothing reaches a real outside service.
    pub sandbox: bool,
    pub database: String,
    pub providers: Vec<ProviderHealth>,
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Public: whether the server and its database are up, and which providers are real.
    async fn health(&self, ctx: &Context<'_>) -> Health {
        let services = ctx.services();
        let database_up = services.db.ping().await.is_ok();
        Health {
            status: if database_up { "ok" } else { "degraded" }.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sandbox: services.config.sandbox,
            database: if database_up { "up" } else { "down" }.into(),
            providers: services.providers.health(),
        }
    }
}
