use async_graphql::{Context, Object};
use tokio::sync::OnceCell;

use super::ContextExt;
use crate::channels::{self, HealthStatus, IntegrationCount};
use crate::providers::ProviderHealth;

/// Each field is worked out only when asked for: load balancers poll `status` often.
pub struct Health {
    database_up: bool,
    /// Read once for `status` and `integrations` alike; `None` when the database fails it.
    integrations: OnceCell<Option<Vec<IntegrationCount>>>,
}

impl Health {
    async fn integrations(&self, ctx: &Context<'_>) -> Option<&[IntegrationCount]> {
        self.integrations
            .get_or_init(|| async {
                if !self.database_up {
                    return None;
                }
                channels::integration_counts(ctx.db()).await.ok()
            })
            .await
            .as_deref()
    }
}

#[Object]
impl Health {
    /// UNHEALTHY when the database does not answer; DEGRADED when an integration that is
    /// not disconnected is not connected either (failed, or stuck connecting).
    async fn status(&self, ctx: &Context<'_>) -> HealthStatus {
        channels::health_status(self.integrations(ctx).await)
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

    /// Each kind's integrations across the server: how many are meant to be up (not
    /// disconnected), and how many are (connected). Empty when the database is down.
    #[graphql(name = "integrations")]
    async fn integration_counts(&self, ctx: &Context<'_>) -> Vec<IntegrationCount> {
        self.integrations(ctx).await.unwrap_or_default().to_vec()
    }

    /// Agents not deleted and active, across the server.
    async fn active_agents(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        Ok(crate::agents::counts(ctx.db()).await?.0)
    }

    /// Agents not deleted, across the server.
    async fn total_agents(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        Ok(crate::agents::counts(ctx.db()).await?.1)
    }
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Public: whether the server, its database and its integrations are up, and which
    /// providers are real.
    async fn health(&self, ctx: &Context<'_>) -> Health {
        Health {
            database_up: ctx.services().db.ping().await.is_ok(),
            integrations: OnceCell::new(),
        }
    }
}
