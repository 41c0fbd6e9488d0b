//! Reads: a broadcast as its organisation may see it, an agent's broadcasts page by page, a
//! broadcast's recipients and their counts, and what the senders look for.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{broadcast, recipient, BroadcastStatus, RecipientStatus};
use super::events::RecipientCounts;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::Page;

pub use broadcast::Model as Broadcast;
pub use recipient::Model as Recipient;

/// A broadcast of the viewer's organisation; another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Broadcast> {
    let found = load(db, &crate::input::id(id, "broadcast")?).await?;
    viewer.owns(&found.org_id, "broadcast")?;
    Ok(found)
}

pub async fn load<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Broadcast> {
    broadcast::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("broadcast"))
}

/// The agent's broadcasts, newest first; `after` is the (created_at, id) of the last one of
/// the previous page.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    agent_id: &str,
    after: Option<(DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<Page<Broadcast>> {
    let mut query = broadcast::Entity::find()
        .filter(broadcast::Column::OrgId.eq(&viewer.org_id))
        .filter(broadcast::Column::AgentId.eq(agent_id));
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(broadcast::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(broadcast::Column::CreatedAt.eq(at))
                        .add(broadcast::Column::Id.lt(id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(broadcast::Column::CreatedAt)
        .order_by_desc(broadcast::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(rows, first))
}

/// The broadcast's recipients in their order (of one status, when given), `first` after
/// position `after`.
pub async fn recipients(
    db: &DatabaseConnection,
    broadcast_id: &str,
    status: Option<RecipientStatus>,
    after: Option<i64>,
    first: u64,
) -> AppResult<Page<Recipient>> {
    let mut query = recipient::Entity::find()
        .filter(recipient::Column::BroadcastId.eq(broadcast_id))
        .filter(recipient::Column::Position.gt(after.unwrap_or(-1)));
    if let Some(status) = status {
        query = query.filter(recipient::Column::Status.eq(status));
    }
    let rows = query
        .order_by_asc(recipient::Column::Position)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(rows, first))
}

/// How many of the broadcast's recipients are in each status.
pub async fn counts<C: ConnectionTrait>(db: &C, broadcast_id: &str) -> AppResult<RecipientCounts> {
    let rows: Vec<(RecipientStatus, i64)> = recipient::Entity::find()
        .select_only()
        .column(recipient::Column::Status)
        .column_as(Expr::col(recipient::Column::Position).count(), "n")
        .filter(recipient::Column::BroadcastId.eq(broadcast_id))
        .group_by(recipient::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts = RecipientCounts::default();
    for (status, n) in rows {
        let slot = match status {
            RecipientStatus::Pending => &mut counts.pending,
            RecipientStatus::Sending => &mut counts.sending,
            RecipientStatus::Sent => &mut counts.sent,
            RecipientStatus::Failed => &mut counts.failed,
            RecipientStatus::Unknown => &mut counts.unknown,
        };
        *slot = n;
    }
    Ok(counts)
}

/// Broadcasts waiting to start whose time has come (`now` on the server's clock).
pub async fn due(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<Vec<Broadcast>> {
    Ok(broadcast::Entity::find()
        .filter(
            Condition::any()
                .add(broadcast::Column::Status.eq(BroadcastStatus::Pending))
                .add(
                    Condition::all()
                        .add(broadcast::Column::Status.eq(BroadcastStatus::Scheduled))
                        .add(broadcast::Column::ScheduledAt.lte(now)),
                ),
        )
        .order_by_asc(broadcast::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Broadcasts being sent, which any instance helps send.
pub async fn processing(db: &DatabaseConnection) -> AppResult<Vec<Broadcast>> {
    Ok(broadcast::Entity::find()
        .filter(broadcast::Column::Status.eq(BroadcastStatus::Processing))
        .order_by_asc(broadcast::Column::CreatedAt)
        .all(db)
        .await?)
}
