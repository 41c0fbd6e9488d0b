//! The server's health as the agents platform sees it (seed 002's `/api/health`): whether the
//! database answers, and how many of the integrations meant to be up are. An integration is
//! meant to be up unless a person disconnected it; it is up only while CONNECTED, so one
//! that FAILED (its token revoked, say) or is stuck CONNECTING makes the server DEGRADED.

use async_graphql::{Enum, SimpleObject};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QuerySelect};

use super::entity::{integration, IntegrationKind, IntegrationState};
use crate::error::AppResult;
use crate::services::Services;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum HealthStatus {
    /// The database answers and every integration meant to be up is.
    Healthy,
    /// Some integrations meant to be up are not (the seed's "< 100% of devices or bots").
    Degraded,
    /// The database does not answer.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One kind's integrations, across every organisation (it is the server's health).
#[derive(Debug, Clone, PartialEq, SimpleObject)]
pub struct IntegrationCount {
    pub kind: IntegrationKind,
    /// Not disconnected: meant to be up.
    pub total: u64,
    /// Of those, connected.
    pub connected: u64,
}

/// Every kind's counts, in the kinds' order, zero for a kind with none.
pub async fn integration_counts(db: &DatabaseConnection) -> AppResult<Vec<IntegrationCount>> {
    let rows: Vec<(IntegrationKind, IntegrationState, i64)> = integration::Entity::find()
        .select_only()
        .column(integration::Column::Kind)
        .column(integration::Column::State)
        .column_as(integration::Column::Id.count(), "n")
        .group_by(integration::Column::Kind)
        .group_by(integration::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let count = |kind: IntegrationKind, up: fn(IntegrationState) -> bool| -> u64 {
        rows.iter()
            .filter(|(k, state, _)| *k == kind && up(*state))
            .map(|(_, _, n)| *n as u64)
            .sum()
    };
    Ok(<IntegrationKind as sea_orm::Iterable>::iter()
        .map(|kind| IntegrationCount {
            kind,
            total: count(kind, |state| state != IntegrationState::Disconnected),
            connected: count(kind, |state| state == IntegrationState::Connected),
        })
        .collect())
}

/// UNHEALTHY without the database (or its counts), DEGRADED when an integration meant to be
/// up is not, else HEALTHY.
pub fn health_status(counts: Option<&[IntegrationCount]>) -> HealthStatus {
    match counts {
        None => HealthStatus::Unhealthy,
        Some(counts) if counts.iter().any(|c| c.connected < c.total) => HealthStatus::Degraded,
        Some(_) => HealthStatus::Healthy,
    }
}

/// Everything the seed's `/api/health` says.
pub struct HealthReport {
    pub status: HealthStatus,
    pub integrations: Vec<IntegrationCount>,
    pub active_agents: u64,
    pub total_agents: u64,
}

impl HealthReport {
    pub fn of(&self, kind: IntegrationKind) -> (u64, u64) {
        self.integrations
            .iter()
            .find(|c| c.kind == kind)
            .map_or((0, 0), |c| (c.total, c.connected))
    }
}

/// With the database down, UNHEALTHY and every count 0.
pub async fn report(s: &Services) -> HealthReport {
    let read = async {
        s.db.ping().await?;
        let integrations = integration_counts(&s.db).await?;
        let (active_agents, total_agents) = crate::agents::counts(&s.db).await?;
        AppResult::Ok((integrations, active_agents, total_agents))
    };
    match read.await {
        Ok((integrations, active_agents, total_agents)) => HealthReport {
            status: health_status(Some(&integrations)),
            integrations,
            active_agents,
            total_agents,
        },
        Err(err) => {
            tracing::warn!(error = ?err, "health: the database does not answer");
            HealthReport {
                status: HealthStatus::Unhealthy,
                integrations: Vec::new(),
                active_agents: 0,
                total_agents: 0,
            }
        }
    }
}
