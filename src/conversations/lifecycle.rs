//! Messages are stored and changed here only: each write takes the conversation's next
//! sequence in its transaction, and is announced on the bus once committed.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr,
    Statement,
};
use serde_json::json;

use super::entity::{conversation, message, DeliveryStatus, MessageRole};
use super::events::{topic, Message};
use crate::error::{AppError, AppResult};
use crate::services::Services;
use crate::webhooks::{self, EventType, Outgoing};

pub use conversation::Model as Conversation;
pub use message::Model as StoredMessage;

/// A message to store.
pub struct NewMessage {
    pub role: MessageRole,
    pub text: String,
    pub original_text: Option<String>,
    pub language: Option<String>,
    pub sentiment: Option<f64>,
    pub provider_message_id: Option<String>,
    pub delivery: DeliveryStatus,
    pub author: Option<String>,
    pub reply_to: Option<String>,
    pub at: DateTime<Utc>,
}

impl NewMessage {
    /// One of ours (an agent's or a manager's), to be sent.
    pub fn outgoing(role: MessageRole, text: String) -> Self {
        Self {
            role,
            text,
            original_text: None,
            language: None,
            sentiment: None,
            provider_message_id: None,
            delivery: DeliveryStatus::Pending,
            author: None,
            reply_to: None,
            at: Utc::now().trunc_subsecs(6),
        }
    }
}

/// Stores `new` in `conversation` on `conn` (the caller's transaction) with its outgoing
/// webhook: the next position and sequence are the conversation's, taken under its row lock.
pub async fn append<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    conversation: &Conversation,
    new: NewMessage,
) -> AppResult<StoredMessage> {
    let (sequence, position) = next_sequence_and_position(conn, &conversation.id).await?;
    let at = new.at;
    let row = message::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        conversation_id: Set(conversation.id.clone()),
        org_id: Set(conversation.org_id.clone()),
        integration_id: Set(conversation.integration_id.clone()),
        position: Set(position),
        sequence: Set(sequence),
        role: Set(new.role),
        text: Set(new.text),
        original_text: Set(new.original_text),
        language: Set(new.language),
        sentiment: Set(new.sentiment),
        provider_message_id: Set(new.provider_message_id),
        delivery: Set(new.delivery),
        delivery_error: Set(None),
        author: Set(new.author),
        reply_to: Set(new.reply_to),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(conn)
    .await
    .map_err(|err| match err.sql_err() {
        // Stored already: the same provider message, or a reply to the same message.
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("the message is stored already".into())
        }
        _ => err.into(),
    })?;
    let mut update = conversation::Entity::update_many()
        .col_expr(conversation::Column::LastRole, Expr::value(row.role))
        .col_expr(conversation::Column::LastMessageAt, Expr::value(at))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(at));
    if row.role == MessageRole::User {
        // The customer wrote: the next silence gets its own follow-ups.
        update = update.col_expr(conversation::Column::FollowUpsSent, Expr::value(0i64));
    }
    update
        .filter(conversation::Column::Id.eq(&conversation.id))
        .exec(conn)
        .await?;
    let created = json!({
        "conversationId": row.conversation_id,
        "messageId": row.id,
        "integrationId": row.integration_id,
        "role": row.role,
        "text": row.text,
        "language": row.language,
        "sentiment": row.sentiment,
        "author": row.author,
        "sequence": row.sequence,
        "at": row.created_at,
    });
    let outgoing = Outgoing::new(&row.org_id, EventType::MessageCreated, created)
        .ordered(topic(&row.conversation_id), row.sequence);
    webhooks::emit_on(s, conn, outgoing).await?;
    Ok(row)
}

/// The conversation's next change sequence and message position, in one statement under
/// its row lock.
async fn next_sequence_and_position<C: ConnectionTrait>(
    conn: &C,
    conversation_id: &str,
) -> AppResult<(i64, i64)> {
    let backend = conn.get_database_backend();
    let sql = "UPDATE conversations SET last_sequence = last_sequence + 1, \
               message_count = message_count + 1 WHERE id = $1 \
               RETURNING last_sequence, message_count";
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            crate::db::placeholders(backend, sql),
            [conversation_id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    Ok((
        row.try_get("", "last_sequence")?,
        row.try_get("", "message_count")?,
    ))
}

/// A change to a stored message.
#[derive(Default)]
pub struct MessageChange {
    pub text: Option<String>,
    pub original_text: Option<String>,
    pub delivery: Option<DeliveryStatus>,
    pub delivery_error: Option<String>,
    pub provider_message_id: Option<String>,
    /// Applied only if the message is still in this state: two workers never both move it.
    pub if_delivery: Option<DeliveryStatus>,
}

/// Applies `change` to `message` on `conn` under the conversation's next sequence; `None`
/// when `if_delivery` no longer holds.
pub async fn change<C: ConnectionTrait>(
    conn: &C,
    message: &StoredMessage,
    change: MessageChange,
) -> AppResult<Option<StoredMessage>> {
    let sequence = crate::db::next_sequence(
        conn,
        "conversations",
        "last_sequence",
        &message.conversation_id,
    )
    .await?;
    let mut row: message::ActiveModel = message.clone().into();
    row.sequence = Set(sequence);
    row.updated_at = Set(Utc::now().trunc_subsecs(6));
    if let Some(text) = change.text {
        row.text = Set(text);
    }
    if let Some(original) = change.original_text {
        row.original_text = Set(Some(original));
    }
    if let Some(delivery) = change.delivery {
        row.delivery = Set(delivery);
    }
    if let Some(error) = change.delivery_error {
        row.delivery_error = Set(Some(error));
    }
    if let Some(id) = change.provider_message_id {
        row.provider_message_id = Set(Some(id));
    }
    let mut update = message::Entity::update_many()
        .set(row.clone())
        .filter(message::Column::Id.eq(&message.id));
    if let Some(expected) = change.if_delivery {
        update = update.filter(message::Column::Delivery.eq(expected));
    }
    if update.exec(conn).await?.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(sea_orm::TryIntoModel::try_into_model(row)?))
}

/// After the commit: push a stored or changed message to the conversation's subscribers.
pub async fn announce(s: &Services, message: StoredMessage) {
    s.bus.publish(Message::from(message)).await;
    s.jobs.wake();
}
