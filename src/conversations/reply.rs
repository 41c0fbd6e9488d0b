//! The agent's answer to a stored customer message, in the seed's order: no answer in
//! manual mode; outside working hours the away message (once a day per conversation);
//! otherwise the message translated for the agent when asked, the LLM's reply from the
//! system prompt and recent history, translated back, then sent. Each step's result is
//! stored before the next, so a retry resumes where the failure was: a reply is generated
//! once and sent at most once.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::entity::{conversation, DeliveryStatus, MessageRole};
use super::lifecycle::{self, Conversation, MessageChange, NewMessage, StoredMessage};
use super::{follow_up, store};
use crate::agents::{self, Agent, AgentEventKind, AgentSettings};
use crate::channels::{self, Inbound, Integration};
use crate::error::{AppError, AppResult};
use crate::jobs::JobFailure;
use crate::providers::llm::{translation_prompt, Speaker, Turn};
use crate::providers::{Llm, ModelChoice, ProviderError};
use crate::services::Services;

pub async fn answer(
    s: &Services,
    integration: &Integration,
    agent: &Agent,
    settings: &AgentSettings,
    conversation: Conversation,
    message: StoredMessage,
) -> Result<(), JobFailure> {
    if let Some(reply) = store::reply_to(&s.db, &message.id).await? {
        return send(s, integration, agent, &conversation, reply).await;
    }
    if conversation.manual_mode {
        tracing::info!(
            step = "manual_mode",
            "manual mode: the agent does not answer"
        );
        return Ok(());
    }
    if agent.is_deleted() || !agent.is_active {
        tracing::info!(step = "inactive", "the agent is inactive: no answer");
        return Ok(());
    }
    let now = s.clock.now();
    if !settings.is_open(now) {
        return away(s, integration, agent, settings, &conversation, &message).await;
    }
    tracing::info!(
        step = "working_hours",
        "message processed during working hours"
    );
    let llm = s.providers.llm_for(ModelChoice {
        model: agent.model.clone(),
        api_key: agents::api_key(s, agent)?,
        base: agent
            .base_url
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok()),
    })?;
    let message = translate_incoming(s, llm.as_ref(), settings, message).await?;
    // A conversation's first message has no history to read.
    let history = match message.position {
        1 => Vec::new(),
        _ => {
            let window = s.config.agents.history_messages;
            store::recent(&s.db, &conversation.id, message.position, window).await?
        }
    };
    let mut turns = vec![Turn::new(Speaker::System, agent.system_prompt.clone())];
    turns.extend(history.iter().chain([&message]).map(|m| {
        let speaker = match m.role {
            MessageRole::User => Speaker::User,
            MessageRole::Assistant | MessageRole::Manager => Speaker::Assistant,
        };
        Turn::new(speaker, m.text.clone())
    }));
    let words = llm.chat(&turns).await.map_err(llm_failure)?;
    let words = crate::input::text("reply", words.trim(), 20_000)
        .map_err(|_| JobFailure::retry("the LLM answered with an empty or unusable reply"))?;
    let (text, original) = translate_outgoing(llm.as_ref(), settings, &message, words).await?;
    let mut reply = NewMessage::outgoing(MessageRole::Assistant, text);
    reply.original_text = original;
    reply.language = message
        .language
        .clone()
        .filter(|_| reply.original_text.is_some());
    reply.reply_to = Some(message.id.clone());
    let reply = store_reply(s, settings, &conversation, reply).await?;
    send(s, integration, agent, &conversation, reply).await
}

/// The away message, at most once per conversation per day in the agent's time zone.
async fn away(
    s: &Services,
    integration: &Integration,
    agent: &Agent,
    settings: &AgentSettings,
    conversation: &Conversation,
    message: &StoredMessage,
) -> Result<(), JobFailure> {
    let today = settings.local_day(s.clock.now());
    let txn = crate::db::begin(&s.db).await?;
    let claimed = conversation::Entity::update_many()
        .col_expr(conversation::Column::AwaySentOn, Expr::value(today.clone()))
        .filter(conversation::Column::Id.eq(&conversation.id))
        .filter(
            Condition::any()
                .add(conversation::Column::AwaySentOn.is_null())
                .add(conversation::Column::AwaySentOn.ne(today)),
        )
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        tracing::info!(
            step = "away",
            "outside working hours; the away message went today already"
        );
        return Ok(());
    }
    tracing::info!(
        step = "away",
        "outside working hours, sending the away message"
    );
    let mut reply = NewMessage::outgoing(
        MessageRole::Assistant,
        settings.working_hours.away_message.clone(),
    );
    reply.reply_to = Some(message.id.clone());
    let reply = lifecycle::append(s, &txn, conversation, reply).await?;
    follow_up::schedule(s, &txn, settings, &reply).await?;
    txn.commit().await?;
    lifecycle::announce(s, reply.clone()).await;
    send(s, integration, agent, conversation, reply).await
}

/// Stores the reply, with its follow-up queued; if a reply to the message was stored
/// meanwhile, that one stands.
async fn store_reply(
    s: &Services,
    settings: &AgentSettings,
    conversation: &Conversation,
    reply: NewMessage,
) -> Result<StoredMessage, JobFailure> {
    let replying_to = reply.reply_to.clone().unwrap_or_default();
    let txn = crate::db::begin(&s.db).await?;
    match lifecycle::append(s, &txn, conversation, reply).await {
        Ok(stored) => {
            follow_up::schedule(s, &txn, settings, &stored).await?;
            txn.commit().await?;
            lifecycle::announce(s, stored.clone()).await;
            Ok(stored)
        }
        Err(AppError::Conflict(_)) => {
            txn.rollback().await?;
            Ok(store::reply_to(&s.db, &replying_to)
                .await?
                .ok_or_else(|| JobFailure::retry("a reply both stored and missing"))?)
        }
        Err(err) => Err(err.into()),
    }
}

/// The customer's words in the agent's language, when the agent translates incoming
/// messages and they are in another; stored on the message (its original kept).
async fn translate_incoming(
    s: &Services,
    llm: &dyn Llm,
    settings: &AgentSettings,
    message: StoredMessage,
) -> Result<StoredMessage, JobFailure> {
    let rules = &settings.translation;
    let Some(language) = message.language.clone() else {
        return Ok(message);
    };
    if !rules.enabled
        || !rules.translate_incoming
        || language == rules.source_language
        || message.original_text.is_some()
    {
        return Ok(message);
    }
    tracing::info!(step = "translate_incoming", from = %language, to = %rules.source_language, "translating the incoming message");
    let translated = translate(llm, &rules.source_language, &message.text).await?;
    let change = MessageChange {
        original_text: Some(message.text.clone()),
        text: Some(translated),
        ..MessageChange::default()
    };
    let txn = crate::db::begin(&s.db).await?;
    let changed = lifecycle::change(&txn, &message, change).await?;
    txn.commit().await?;
    let changed = changed.unwrap_or(message);
    lifecycle::announce(s, changed.clone()).await;
    Ok(changed)
}

/// The reply in the customer's language, with the agent's own words, when the agent
/// translates outgoing messages and the customer wrote in another language.
async fn translate_outgoing(
    llm: &dyn Llm,
    settings: &AgentSettings,
    message: &StoredMessage,
    words: String,
) -> Result<(String, Option<String>), JobFailure> {
    let rules = &settings.translation;
    match &message.language {
        Some(language)
            if rules.enabled && rules.translate_outgoing && *language != rules.source_language =>
        {
            tracing::info!(step = "translate_outgoing", from = %rules.source_language, to = %language, "translating the outgoing reply");
            let translated = translate(llm, language, &words).await?;
            Ok((translated, Some(words)))
        }
        _ => Ok((words, None)),
    }
}

async fn translate(llm: &dyn Llm, language: &str, text: &str) -> Result<String, JobFailure> {
    let turns = [
        Turn::new(Speaker::System, translation_prompt(language)),
        Turn::new(Speaker::User, text),
    ];
    let translated = llm.chat(&turns).await.map_err(llm_failure)?;
    crate::input::text("translation", translated.trim(), 20_000)
        .map_err(|_| JobFailure::retry("the LLM answered with an empty translation"))
}

fn llm_failure(err: ProviderError) -> JobFailure {
    let mut failure = JobFailure::from(err);
    failure.message = format!("the agent's reply failed: {}", failure.message);
    failure
}

/// Sends a stored reply once: claimed (SENDING) before the channel is asked, then SENT with
/// the channel's id, back to PENDING for a retry when the channel answered with a passing
/// failure, FAILED when it never will. A reply found SENDING was interrupted mid-send: it is
/// marked UNKNOWN, not sent again.
pub async fn send(
    s: &Services,
    integration: &Integration,
    agent: &Agent,
    conversation: &Conversation,
    reply: StoredMessage,
) -> Result<(), JobFailure> {
    match reply.delivery {
        DeliveryStatus::Pending => {}
        DeliveryStatus::Sending => {
            let change = MessageChange {
                delivery: Some(DeliveryStatus::Unknown),
                delivery_error: Some("the send was interrupted before the channel answered".into()),
                if_delivery: Some(DeliveryStatus::Sending),
                ..MessageChange::default()
            };
            apply(s, &reply, change).await?;
            return Ok(());
        }
        _ => return Ok(()),
    }
    let claim = MessageChange {
        delivery: Some(DeliveryStatus::Sending),
        if_delivery: Some(DeliveryStatus::Pending),
        ..MessageChange::default()
    };
    let Some(claimed) = apply(s, &reply, claim).await? else {
        return Ok(());
    };
    let sent = channels::send_text(s, integration, &conversation.chat_id, &claimed.text).await;
    match sent {
        Ok(sent) => {
            let change = MessageChange {
                delivery: Some(DeliveryStatus::Sent),
                provider_message_id: Some(sent.provider_message_id),
                if_delivery: Some(DeliveryStatus::Sending),
                ..MessageChange::default()
            };
            apply(s, &claimed, change).await?;
            tracing::info!(step = "send", "response sent");
            Ok(())
        }
        // The channel answered that it did not take it: safe to send again later.
        Err(err) if err.status.is_some() && err.is_transient() => {
            let change = MessageChange {
                delivery: Some(DeliveryStatus::Pending),
                delivery_error: Some(err.describe()),
                if_delivery: Some(DeliveryStatus::Sending),
                ..MessageChange::default()
            };
            apply(s, &claimed, change).await?;
            Err(JobFailure::from(err))
        }
        Err(err) => {
            // Refused for good, or no answer at all (it may have arrived): not sent again.
            let outcome = if err.status.is_some() || err.hopeless {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Unknown
            };
            let change = MessageChange {
                delivery: Some(outcome),
                delivery_error: Some(err.describe()),
                if_delivery: Some(DeliveryStatus::Sending),
                ..MessageChange::default()
            };
            apply(s, &claimed, change).await?;
            let detail = format!("the reply could not be sent: {}", err.describe());
            mark_failed(s, agent, &conversation.id, detail).await?;
            Ok(())
        }
    }
}

/// Applies a change to a message in its own transaction and announces it.
pub async fn apply(
    s: &Services,
    message: &StoredMessage,
    change: MessageChange,
) -> AppResult<Option<StoredMessage>> {
    let txn = crate::db::begin(&s.db).await?;
    let Some(changed) = lifecycle::change(&txn, message, change).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    txn.commit().await?;
    lifecycle::announce(s, changed.clone()).await;
    Ok(Some(changed))
}

/// The conversation keeps why its last answer failed, and the agent's managers are told.
async fn mark_failed(
    s: &Services,
    agent: &Agent,
    conversation_id: &str,
    detail: String,
) -> AppResult<()> {
    let txn = crate::db::begin(&s.db).await?;
    conversation::Entity::update_many()
        .col_expr(conversation::Column::Failure, Expr::value(detail.clone()))
        .filter(conversation::Column::Id.eq(conversation_id))
        .exec(&txn)
        .await?;
    let event = agents::record_event(
        &txn,
        agent,
        AgentEventKind::ReplyFailed,
        Some(conversation_id),
        None,
        detail,
    )
    .await?;
    txn.commit().await?;
    agents::announce(s, event).await;
    Ok(())
}

/// After the last attempt at answering `inbound` failed.
pub async fn record_failure(s: &Services, inbound: &Inbound, error: &str) -> AppResult<()> {
    let Some(message) = store::message_by_provider_id(
        &s.db,
        &inbound.integration_id,
        &inbound.message.provider_message_id,
    )
    .await?
    else {
        return Ok(());
    };
    let conversation = store::load(&s.db, &message.conversation_id).await?;
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    tracing::warn!(conversation = %conversation.id, error, "the agent could not answer");
    mark_failed(s, &agent, &conversation.id, error.to_string()).await
}
