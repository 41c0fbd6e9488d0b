//! Reads: an agent as its organisation may see it, the organisation's agents, an agent's
//! events after a sequence.

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use super::entity::{agent, agent_event};
use super::events::AgentEvent;
use super::settings::AgentSettings;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

pub use agent::Model as Agent;

impl Agent {
    /// The stored settings; rows are validated when written, so a row that does not read
    /// is a fault of ours.
    pub fn settings(&self) -> AppResult<AgentSettings> {
        serde_json::from_str(&self.settings)
            .map_err(|err| AppError::internal(format!("agent {} settings: {err}", self.id)))
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// An agent of the viewer's organisation, deleted ones included (their conversations stay
/// readable); another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Agent> {
    let agent = load(db, &crate::input::id(id, "agent")?).await?;
    viewer.owns(&agent.org_id, "agent")?;
    Ok(agent)
}

/// An agent by id, for the domain's own work.
pub async fn load(db: &DatabaseConnection, id: &str) -> AppResult<Agent> {
    agent::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("agent"))
}

/// The organisation's agents that are not deleted, oldest first.
pub async fn list(db: &DatabaseConnection, viewer: &Viewer) -> AppResult<Vec<Agent>> {
    Ok(agent::Entity::find()
        .filter(agent::Column::OrgId.eq(&viewer.org_id))
        .filter(agent::Column::DeletedAt.is_null())
        .order_by_asc(agent::Column::CreatedAt)
        .order_by_asc(agent::Column::Id)
        .all(db)
        .await?)
}

/// Counts for `health` (all organisations: it is the server's health).
pub async fn counts(db: &DatabaseConnection) -> AppResult<(u64, u64)> {
    let live = || agent::Entity::find().filter(agent::Column::DeletedAt.is_null());
    let total = live().count(db).await?;
    let active = live()
        .filter(agent::Column::IsActive.eq(true))
        .count(db)
        .await?;
    Ok((active, total))
}

/// The organisation's active agents, for its dashboard.
pub async fn active_count(db: &DatabaseConnection, org_id: &str) -> AppResult<u64> {
    Ok(agent::Entity::find()
        .filter(agent::Column::OrgId.eq(org_id))
        .filter(agent::Column::DeletedAt.is_null())
        .filter(agent::Column::IsActive.eq(true))
        .count(db)
        .await?)
}

pub async fn events_after(
    db: &DatabaseConnection,
    agent_id: &str,
    after: i64,
) -> AppResult<Vec<AgentEvent>> {
    Ok(agent_event::Entity::find()
        .filter(agent_event::Column::AgentId.eq(agent_id))
        .filter(agent_event::Column::Sequence.gt(after))
        .order_by_asc(agent_event::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(AgentEvent::from)
        .collect())
}
