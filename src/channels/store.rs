//! Reads: an integration as its organisation may see it, an organisation's integrations, and
//! the lookups inbound traffic and the poller make across organisations.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{integration, IntegrationKind, IntegrationState, ReceiveMode};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

pub use integration::Model as Integration;

/// What `active_identity` holds while an integration has its account: unique, so one account
/// is never connected twice.
pub fn active_key(kind: IntegrationKind, identity: &str) -> String {
    format!("{}:{identity}", kind.as_str())
}

/// An integration by id, for work that is not a caller's (webhooks, jobs, the poller).
pub async fn load(db: &DatabaseConnection, id: &str) -> AppResult<Integration> {
    integration::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("integration"))
}

/// An integration of the viewer's organisation; another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Integration> {
    let found = load(db, &crate::input::id(id, "integration")?).await?;
    viewer.owns(&found.org_id, "integration")?;
    Ok(found)
}

/// The organisation's integrations (of one agent, when given), oldest first.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    agent_id: Option<&str>,
) -> AppResult<Vec<Integration>> {
    let mut query =
        integration::Entity::find().filter(integration::Column::OrgId.eq(&viewer.org_id));
    if let Some(agent_id) = agent_id {
        query = query.filter(integration::Column::AgentId.eq(agent_id));
    }
    Ok(query
        .order_by_asc(integration::Column::CreatedAt)
        .order_by_asc(integration::Column::Id)
        .all(db)
        .await?)
}

/// The integration that holds the account `identity` of `kind` (any not disconnected):
/// where an inbound message for that account goes, and nowhere else.
pub async fn holder(
    db: &DatabaseConnection,
    kind: IntegrationKind,
    identity: &str,
) -> AppResult<Option<Integration>> {
    Ok(integration::Entity::find()
        .filter(integration::Column::ActiveIdentity.eq(active_key(kind, identity)))
        .one(db)
        .await?)
}

/// The ids of the organisation's other integrations of the same account as `integration`
/// (a WhatsApp phone paired again as a new integration, say): the conversations they had
/// carry on in this one.
pub async fn same_account(
    db: &DatabaseConnection,
    integration: &Integration,
) -> AppResult<Vec<String>> {
    let Some(identity) = &integration.identity else {
        return Ok(Vec::new());
    };
    Ok(integration::Entity::find()
        .select_only()
        .column(integration::Column::Id)
        .filter(integration::Column::OrgId.eq(&integration.org_id))
        .filter(integration::Column::Kind.eq(integration.kind))
        .filter(integration::Column::Identity.eq(identity))
        .filter(integration::Column::Id.ne(&integration.id))
        .into_tuple()
        .all(db)
        .await?)
}

/// Every integration of `kind` that holds its account, for Meta's handshake, which names
/// no account.
pub async fn holders(
    db: &DatabaseConnection,
    kind: IntegrationKind,
) -> AppResult<Vec<Integration>> {
    Ok(integration::Entity::find()
        .filter(integration::Column::Kind.eq(kind))
        .filter(integration::Column::ActiveIdentity.is_not_null())
        .all(db)
        .await?)
}

/// The connected Telegram bots that receive by long polling.
pub async fn polled(db: &DatabaseConnection) -> AppResult<Vec<Integration>> {
    Ok(integration::Entity::find()
        .filter(integration::Column::Kind.eq(IntegrationKind::Telegram))
        .filter(integration::Column::Mode.eq(ReceiveMode::Polling))
        .filter(integration::Column::State.eq(IntegrationState::Connected))
        .all(db)
        .await?)
}
