//! A customer's message, from the job the channel's webhook or poller queued to the stored
//! message with its language and sentiment: once, however often the channel delivers it.
//! The alerts it raises are stored in the same transaction, so a retry never raises them
//! again.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr};
use serde_json::json;
use tracing::Instrument;

use super::entity::{conversation, DeliveryStatus, MessageRole};
use super::lifecycle::{self, Conversation, NewMessage, StoredMessage};
use super::{reply, store};
use crate::agents::{self, Agent, AgentEventKind, AgentSettings};
use crate::channels::{self, Inbound, Integration};
use crate::error::{AppError, AppResult};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::providers::messaging::InboundMessage;
use crate::services::Services;
use crate::text_analysis;
use crate::webhooks::{self, EventType, Outgoing};

pub struct InboundHandler {
    services: Services,
}

impl InboundHandler {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }
}

#[async_trait]
impl JobHandler for InboundHandler {
    fn kind(&self) -> &'static str {
        channels::INBOUND_JOB
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let s = &self.services;
        let inbound: Inbound = job.payload()?;
        let integration = match channels::load(&s.db, &inbound.integration_id).await {
            Ok(integration) => integration,
            Err(AppError::NotFound(_)) => {
                return Err(JobFailure::permanent("the integration no longer exists"))
            }
            Err(err) => return Err(err.into()),
        };
        let agent = agents::load(&s.db, &integration.agent_id).await?;
        let settings = agent.settings()?;
        // Every step's log line carries the agent, the channel and (once known) the conversation.
        let span = tracing::info_span!(
            "reply",
            agent = %agent.id,
            integration = %integration.id,
            conversation = tracing::field::Empty,
        );
        async {
            let (conversation, message) =
                receive(s, &integration, &agent, &settings, &inbound.message).await?;
            tracing::Span::current().record("conversation", conversation.id.as_str());
            reply::answer(s, &integration, &agent, &settings, conversation, message).await
        }
        .instrument(span)
        .await
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        let Ok(inbound) = job.payload::<Inbound>() else {
            return;
        };
        if let Err(err) = reply::record_failure(&self.services, &inbound, error).await {
            tracing::warn!(error = ?err, "could not record a reply that failed for good");
        }
    }
}

/// The conversation and the stored message, storing both on the first delivery.
async fn receive(
    s: &Services,
    integration: &Integration,
    agent: &Agent,
    settings: &AgentSettings,
    inbound: &InboundMessage,
) -> AppResult<(Conversation, StoredMessage)> {
    let stored =
        store::message_by_provider_id(&s.db, &integration.id, &inbound.provider_message_id);
    if let Some(message) = stored.await? {
        let conversation = store::load(&s.db, &message.conversation_id).await?;
        return Ok((conversation, message));
    }
    let text = crate::input::text("message", &inbound.text, 20_000)
        .unwrap_or_else(|_| inbound.text.replace('\0', ""));
    let language = text_analysis::detect_language(&text).map(|l| l.code.to_string());
    let sentiment = text_analysis::sentiment(&text);
    let conversation = conversation_for(s, integration, inbound).await?;
    tracing::Span::current().record("conversation", conversation.id.as_str());
    let txn = crate::db::begin(&s.db).await?;
    let new = NewMessage {
        role: MessageRole::User,
        text,
        original_text: None,
        language,
        sentiment: Some(sentiment),
        provider_message_id: Some(inbound.provider_message_id.clone()),
        delivery: DeliveryStatus::Received,
        author: None,
        reply_to: None,
        at: Utc::now().trunc_subsecs(6),
    };
    let message = match lifecycle::append(s, &txn, &conversation, new).await {
        Ok(message) => message,
        Err(AppError::Conflict(_)) => {
            // Another worker stored it a moment ago.
            txn.rollback().await?;
            let message =
                store::message_by_provider_id(&s.db, &integration.id, &inbound.provider_message_id)
                    .await?
                    .ok_or_else(|| AppError::internal("a message both stored and missing"))?;
            return Ok((conversation, message));
        }
        Err(err) => return Err(err),
    };
    let mut conversation = conversation;
    let events = judge(s, &txn, agent, settings, &mut conversation, &message).await?;
    txn.commit().await?;
    tracing::info!(step = "store", language = ?message.language, sentiment, "customer message stored");
    lifecycle::announce(s, message.clone()).await;
    for event in events {
        agents::announce(s, event).await;
    }
    Ok((conversation, message))
}

/// The alerts a new message raises: a negative one is reported, a very negative one hands
/// the conversation to a person when the agent says so, and any message in manual mode asks
/// for a person's answer.
async fn judge(
    s: &Services,
    txn: &sea_orm::DatabaseTransaction,
    agent: &Agent,
    settings: &AgentSettings,
    conversation: &mut Conversation,
    message: &StoredMessage,
) -> AppResult<Vec<agents::AgentEvent>> {
    let mut events = Vec::new();
    let score = message.sentiment.unwrap_or(0.0);
    let rules = &settings.sentiment;
    let id = conversation.id.clone();
    let conversation_id = Some(id.as_str());
    if rules.enabled && rules.alert_on_negative && score <= -rules.negative_threshold {
        let detail = format!(
            "negative sentiment {score:.2} (threshold -{:.2})",
            rules.negative_threshold
        );
        tracing::warn!(step = "sentiment", score, "negative sentiment detected");
        events.push(
            agents::record_event(
                txn,
                agent,
                AgentEventKind::NegativeSentiment,
                conversation_id,
                None,
                detail,
            )
            .await?,
        );
    }
    let very_negative = score <= s.config.agents.very_negative;
    if rules.enabled
        && rules.escalate_on_very_negative
        && very_negative
        && !conversation.manual_mode
    {
        set_manual_mode(txn, conversation, true).await?;
        let detail = format!("very negative sentiment {score:.2}: handed to a person");
        tracing::warn!(
            step = "sentiment",
            score,
            "very negative sentiment: escalated"
        );
        let escalated = json!({
            "conversationId": id,
            "agentId": agent.id,
            "integrationId": conversation.integration_id,
            "channel": conversation.channel,
            "reason": detail,
            "sentiment": score,
            "messageId": message.id,
            "at": message.created_at,
        });
        webhooks::emit_on(
            s,
            txn,
            Outgoing::new(&agent.org_id, EventType::ConversationEscalated, escalated),
        )
        .await?;
        events.push(
            agents::record_event(
                txn,
                agent,
                AgentEventKind::Escalated,
                conversation_id,
                None,
                detail,
            )
            .await?,
        );
    }
    if conversation.manual_mode {
        let detail = "a customer wrote in a conversation in manual mode".to_string();
        events.push(
            agents::record_event(
                txn,
                agent,
                AgentEventKind::AwaitingManager,
                conversation_id,
                None,
                detail,
            )
            .await?,
        );
    }
    Ok(events)
}

/// Turns manual mode on or off on `conn`, and in `conversation` as the caller holds it.
pub async fn set_manual_mode<C: sea_orm::ConnectionTrait>(
    conn: &C,
    conversation: &mut Conversation,
    on: bool,
) -> AppResult<()> {
    conversation::Entity::update_many()
        .col_expr(conversation::Column::ManualMode, Expr::value(on))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(conversation::Column::Id.eq(&conversation.id))
        .exec(conn)
        .await?;
    conversation.manual_mode = on;
    Ok(())
}

/// The sender's latest conversation with the same account under an earlier integration of
/// the organisation (a WhatsApp phone disconnected and paired again, seed test 7.3), moved
/// to this integration and its agent so that it carries on here.
async fn carried_over(
    s: &Services,
    integration: &Integration,
    inbound: &InboundMessage,
) -> AppResult<Option<Conversation>> {
    let earlier = channels::same_account(&s.db, integration).await?;
    if earlier.is_empty() {
        return Ok(None);
    }
    let Some(found) = conversation::Entity::find()
        .filter(conversation::Column::IntegrationId.is_in(earlier))
        .filter(conversation::Column::RemoteUserId.eq(&inbound.remote_user_id))
        .order_by_desc(conversation::Column::LastMessageAt)
        .one(&s.db)
        .await?
    else {
        return Ok(None);
    };
    let moved = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::IntegrationId,
            Expr::value(integration.id.clone()),
        )
        .col_expr(
            conversation::Column::AgentId,
            Expr::value(integration.agent_id.clone()),
        )
        .col_expr(conversation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(conversation::Column::Id.eq(&found.id))
        .filter(conversation::Column::IntegrationId.eq(&found.integration_id))
        .exec(&s.db)
        .await;
    match moved {
        Ok(_) => {}
        // Another worker carried it (or made one) a moment ago.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
        Err(err) => return Err(err.into()),
    }
    let identity = integration.identity.as_deref().unwrap_or_default();
    tracing::info!(from = %found.integration_id, account = %identity, "conversation matched by account: carried over to the integration");
    store::find_by_remote(&s.db, &integration.id, &inbound.remote_user_id).await
}

/// The conversation of the integration with the message's sender, made on their first
/// message (one per integration and remote user, whoever races to make it).
async fn conversation_for(
    s: &Services,
    integration: &Integration,
    inbound: &InboundMessage,
) -> AppResult<Conversation> {
    if let Some(found) =
        store::find_by_remote(&s.db, &integration.id, &inbound.remote_user_id).await?
    {
        return Ok(found);
    }
    if let Some(found) = carried_over(s, integration, inbound).await? {
        return Ok(found);
    }
    let now = Utc::now().trunc_subsecs(6);
    let row = conversation::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        org_id: Set(integration.org_id.clone()),
        agent_id: Set(integration.agent_id.clone()),
        integration_id: Set(integration.id.clone()),
        channel: Set(channels::channel_name(integration.kind).to_string()),
        remote_user_id: Set(inbound.remote_user_id.clone()),
        remote_user_name: Set(inbound.remote_user_name.clone()),
        chat_id: Set(inbound.chat_id.clone()),
        manual_mode: Set(false),
        last_sequence: Set(0),
        message_count: Set(0),
        last_role: Set(None),
        last_message_at: Set(now),
        away_sent_on: Set(None),
        follow_ups_sent: Set(0),
        failure: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(&s.db).await {
        Ok(made) => Ok(made),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            store::find_by_remote(&s.db, &integration.id, &inbound.remote_user_id)
                .await?
                .ok_or_else(|| AppError::internal("a conversation both made and missing"))
        }
        Err(err) => Err(err.into()),
    }
}
