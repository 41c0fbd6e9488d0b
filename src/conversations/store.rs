//! Reads: conversations as their organisation may see them, pages of them and of their
//! messages, messages after a sequence, and the dashboard's counts.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entity::{conversation, message, MessageRole};
use super::events::Message;
use super::lifecycle::{Conversation, StoredMessage};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// A conversation of the viewer's organisation; another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Conversation> {
    let conversation = load(db, &crate::input::id(id, "conversation")?).await?;
    viewer.owns(&conversation.org_id, "conversation")?;
    Ok(conversation)
}

pub async fn load<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Conversation> {
    conversation::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))
}

pub async fn find_by_remote<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
    remote_user_id: &str,
) -> AppResult<Option<Conversation>> {
    Ok(conversation::Entity::find()
        .filter(conversation::Column::IntegrationId.eq(integration_id))
        .filter(conversation::Column::RemoteUserId.eq(remote_user_id))
        .one(db)
        .await?)
}

pub async fn message_by_provider_id<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
    provider_message_id: &str,
) -> AppResult<Option<StoredMessage>> {
    Ok(message::Entity::find()
        .filter(message::Column::IntegrationId.eq(integration_id))
        .filter(message::Column::ProviderMessageId.eq(provider_message_id))
        .one(db)
        .await?)
}

pub async fn message<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<StoredMessage> {
    message::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("message"))
}

pub async fn reply_to<C: ConnectionTrait>(
    db: &C,
    message_id: &str,
) -> AppResult<Option<StoredMessage>> {
    Ok(message::Entity::find()
        .filter(message::Column::ReplyTo.eq(message_id))
        .one(db)
        .await?)
}

/// Whether the customer wrote in `message`'s conversation after it.
pub async fn customer_wrote_after<C: ConnectionTrait>(
    db: &C,
    message: &StoredMessage,
) -> AppResult<bool> {
    let later = message::Entity::find()
        .filter(message::Column::ConversationId.eq(&message.conversation_id))
        .filter(message::Column::Role.eq(MessageRole::User))
        .filter(message::Column::Position.gt(message.position))
        .count(db)
        .await?;
    Ok(later > 0)
}

/// Which conversations to list.
#[derive(Default)]
pub struct ConversationFilter {
    pub agent_id: Option<String>,
    pub channel: Option<String>,
    pub manual_mode: Option<bool>,
}

pub use crate::graphql::pagination::Page;

/// Most recently active first; `after` is the (last_message_at, id) of the last one of the
/// previous page.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    filter: ConversationFilter,
    after: Option<(DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<Page<Conversation>> {
    let mut query =
        conversation::Entity::find().filter(conversation::Column::OrgId.eq(&viewer.org_id));
    if let Some(agent_id) = filter.agent_id {
        query = query.filter(conversation::Column::AgentId.eq(agent_id));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(conversation::Column::Channel.eq(channel));
    }
    if let Some(manual) = filter.manual_mode {
        query = query.filter(conversation::Column::ManualMode.eq(manual));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(conversation::Column::LastMessageAt.lt(at))
                .add(
                    Condition::all()
                        .add(conversation::Column::LastMessageAt.eq(at))
                        .add(conversation::Column::Id.lt(id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(conversation::Column::LastMessageAt)
        .order_by_desc(conversation::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(rows, first))
}

/// Messages in their order in the conversation, `first` after position `after`.
pub async fn messages(
    db: &DatabaseConnection,
    conversation_id: &str,
    after: i64,
    first: u64,
) -> AppResult<Page<StoredMessage>> {
    let rows = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Position.gt(after))
        .order_by_asc(message::Column::Position)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(rows, first))
}

/// The `count` messages before position `before`, oldest first: the history the agent sees.
pub async fn recent<C: ConnectionTrait>(
    db: &C,
    conversation_id: &str,
    before: i64,
    count: u64,
) -> AppResult<Vec<StoredMessage>> {
    let mut recent = message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Position.lt(before))
        .order_by_desc(message::Column::Position)
        .limit(count)
        .all(db)
        .await?;
    recent.reverse();
    Ok(recent)
}

/// Every message stored or changed after `sequence`, in the order of their changes.
pub async fn changes_after(
    db: &DatabaseConnection,
    conversation_id: &str,
    sequence: i64,
) -> AppResult<Vec<Message>> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Sequence.gt(sequence))
        .order_by_asc(message::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(Message::from)
        .collect())
}

/// The organisation's figures for its dashboard.
pub struct Stats {
    pub messages_today: u64,
    pub conversations: u64,
    /// (channel, messages today), busiest first.
    pub by_channel: Vec<(String, u64)>,
    /// Messages today in each hour (UTC) from midnight, 24 of them.
    pub by_hour: Vec<u64>,
}

pub async fn stats(
    db: &DatabaseConnection,
    org_id: &str,
    today: DateTime<Utc>,
) -> AppResult<Stats> {
    let messages_today = message::Entity::find()
        .filter(message::Column::OrgId.eq(org_id))
        .filter(message::Column::CreatedAt.gte(today))
        .count(db)
        .await?;
    let conversations = conversation::Entity::find()
        .filter(conversation::Column::OrgId.eq(org_id))
        .count(db)
        .await?;
    let backend = db.get_database_backend();
    let sql = "SELECT c.channel AS channel, COUNT(*) AS n FROM messages m \
               JOIN conversations c ON c.id = m.conversation_id \
               WHERE m.org_id = $1 AND m.created_at >= $2 GROUP BY c.channel ORDER BY n DESC";
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            crate::db::placeholders(backend, sql),
            [org_id.into(), today.into()],
        ))
        .await?;
    let mut by_channel = Vec::with_capacity(rows.len());
    for row in rows {
        let channel: String = row.try_get("", "channel")?;
        let n: i64 = row.try_get("", "n")?;
        by_channel.push((channel, n.max(0) as u64));
    }
    Ok(Stats {
        messages_today,
        conversations,
        by_channel,
        by_hour: by_hour(db, org_id, today).await?,
    })
}

/// Today's messages counted by their hour (UTC), in the database.
async fn by_hour(
    db: &DatabaseConnection,
    org_id: &str,
    today: DateTime<Utc>,
) -> AppResult<Vec<u64>> {
    let backend = db.get_database_backend();
    let hour = match backend {
        DbBackend::Postgres => "CAST(EXTRACT(HOUR FROM created_at AT TIME ZONE 'UTC') AS BIGINT)",
        _ => "CAST(strftime('%H', created_at) AS INTEGER)",
    };
    let sql = format!(
        "SELECT {hour} AS hour, COUNT(*) AS n FROM messages \
         WHERE org_id = $1 AND created_at >= $2 GROUP BY 1"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            crate::db::placeholders(backend, &sql),
            [org_id.into(), today.into()],
        ))
        .await?;
    let mut hours = vec![0; 24];
    for row in rows {
        let hour: i64 = row.try_get("", "hour")?;
        let n: i64 = row.try_get("", "n")?;
        if let Some(slot) = usize::try_from(hour).ok().and_then(|h| hours.get_mut(h)) {
            *slot += n.max(0) as u64;
        }
    }
    Ok(hours)
}
