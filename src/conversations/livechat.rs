//! Live chat: a manager takes a conversation over (the agent stops answering) and gives it
//! back, notes things on it, and answers the customer through the channel. Every change is
//! on `conversationMessages` or `agentEvents` at once, so managers watching one conversation
//! see each other's actions. For managers and admins of the organisation.

use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::{note, DeliveryStatus, MessageRole};
use super::inbound::set_manual_mode;
use super::lifecycle::{self, Conversation, MessageChange, NewMessage, StoredMessage};
use super::{reply, store};
use crate::agents::{self, AgentEventKind};
use crate::auth::{Role, Viewer};
use crate::channels;
use crate::error::AppResult;
use crate::services::Services;

pub use note::Model as Note;

/// Turns manual mode on (`true`: a person answers) or off (the agent answers again).
pub async fn set_manual(
    s: &Services,
    viewer: &Viewer,
    conversation_id: &str,
    on: bool,
) -> AppResult<Conversation> {
    viewer.require(Role::Manager)?;
    let mut conversation = store::get(&s.db, viewer, conversation_id).await?;
    if conversation.manual_mode == on {
        return Ok(conversation);
    }
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    let txn = crate::db::begin(&s.db).await?;
    set_manual_mode(&txn, &mut conversation, on).await?;
    let detail = match on {
        true => format!("taken over by {}", viewer.user_id),
        false => format!("given back to the agent by {}", viewer.user_id),
    };
    let event = agents::record_event(
        &txn,
        &agent,
        AgentEventKind::ManualModeChanged,
        Some(&conversation.id),
        None,
        detail,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(conversation = %conversation.id, on, by = %viewer.user_id, "manual mode changed");
    agents::announce(s, event).await;
    Ok(conversation)
}

pub async fn add_note(
    s: &Services,
    viewer: &Viewer,
    conversation_id: &str,
    text: &str,
) -> AppResult<Note> {
    viewer.require(Role::Manager)?;
    let conversation = store::get(&s.db, viewer, conversation_id).await?;
    let text = crate::input::text("note", text, 10_000)?;
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    let txn = crate::db::begin(&s.db).await?;
    let note = note::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        conversation_id: Set(conversation.id.clone()),
        org_id: Set(conversation.org_id.clone()),
        author: Set(viewer.user_id.clone()),
        text: Set(text),
        created_at: Set(Utc::now().trunc_subsecs(6)),
    }
    .insert(&txn)
    .await?;
    let event = agents::record_event(
        &txn,
        &agent,
        AgentEventKind::NoteAdded,
        Some(&conversation.id),
        None,
        format!("note by {}", viewer.user_id),
    )
    .await?;
    txn.commit().await?;
    agents::announce(s, event).await;
    Ok(note)
}

pub async fn notes(s: &Services, conversation_id: &str) -> AppResult<Vec<Note>> {
    Ok(note::Entity::find()
        .filter(note::Column::ConversationId.eq(conversation_id))
        .order_by_asc(note::Column::CreatedAt)
        .order_by_asc(note::Column::Id)
        .all(&s.db)
        .await?)
}

/// A manager's answer: stored as MANAGER with its author, then sent through the channel;
/// the answer is the message as stored after the attempt (SENT, or FAILED with why).
pub async fn send_manager_message(
    s: &Services,
    viewer: &Viewer,
    conversation_id: &str,
    text: &str,
) -> AppResult<StoredMessage> {
    viewer.require(Role::Manager)?;
    let conversation = store::get(&s.db, viewer, conversation_id).await?;
    let text = crate::input::text("message", text, 4096)?;
    let integration = channels::load(&s.db, &conversation.integration_id).await?;
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    let mut message = NewMessage::outgoing(MessageRole::Manager, text);
    message.author = Some(viewer.user_id.clone());
    let txn = crate::db::begin(&s.db).await?;
    let stored = lifecycle::append(s, &txn, &conversation, message).await?;
    txn.commit().await?;
    lifecycle::announce(s, stored.clone()).await;
    if let Err(failure) = reply::send(s, &integration, &agent, &conversation, stored.clone()).await
    {
        // A manager is waiting for the answer now, not for a retry in a minute: the message
        // is FAILED, saying why, and may be sent again.
        let pending = store::message(&s.db, &stored.id).await?;
        let change = MessageChange {
            delivery: Some(DeliveryStatus::Failed),
            delivery_error: Some(failure.message),
            if_delivery: Some(DeliveryStatus::Pending),
            ..MessageChange::default()
        };
        reply::apply(s, &pending, change).await?;
    }
    store::message(&s.db, &stored.id).await
}
