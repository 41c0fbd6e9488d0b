use async_graphql::{Context, Object};

use super::ContextExt;
use crate::providers::ProviderHealth;

/// Each field is worked out only when asked for: load balancers poll `status` often.
pub struct Health {
    database_up: bool,
}

#[Object]
impl Health {
    /// `ok`, or `degraded` when the database does not answer.
    async fn status(&self) -> &str {
        if self.database_up {
            "ok"
        } else {
            "degraded"
        }
    }

    async fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    /// Simulated providers are in use: nothing reaches a real outside service.
    async fn sandbox(&self, ctx: &Context<'_>) -> bool {
        ctx.services().config.sandbox
    }

    /// `up` or `down`.
    async fn database(&self) -> &str {
        if self.database_up {
            "up"
        } else {
            "down"
        }
    }

    async fn providers(&self, ctx: &Context<'_>) -> Vec<ProviderHealth> {
        ctx.services().providers.health()
    }
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Public: whether the server and its database are up, and which providers are real.
    async fn health(&self, ctx: &Context<'_>) -> Health {
        Health {
            database_up: ctx.services().db.ping().await.is_ok(),
        }
    }
}
