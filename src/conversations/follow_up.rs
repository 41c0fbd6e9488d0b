//! Follow-ups (seed 002, test 6): when the agent's message meets the customer's silence for
//! the agent's `follow_up.delay_minutes`, the agent writes again, up to `max_follow_ups`
//! times per silence; the n-th follow-up says `messages[n - 1]`, the last one again once
//! they run out.
//!
//! Each follow-up is a durable job queued in the transaction that stores the message it
//! follows (the agent's reply or away message, or the previous follow-up), due `delay`
//! after it on the services' clock, at the agent's next opening when that falls outside
//! working hours. Its unique key names the conversation, n and the message it follows, so a
//! retry or a second instance never queues it twice. A job that wakes to a changed
//! conversation does nothing: the customer wrote since (when `only_if_no_reply`), manual
//! mode, follow-ups turned off, or the follow-up sent already.
//!
//! The conversation counts the follow-ups sent since the customer last wrote
//! (`follow_ups_sent`, reset to 0 when a customer's message is stored). A follow-up is
//! claimed by moving that count from n - 1 to n (`… WHERE follow_ups_sent = n - 1`), in the
//! transaction that stores it, so of two workers one sends it; it is sent through
//! [`reply::send`], at most once.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::entity::{conversation, MessageRole};
use super::lifecycle::{self, Conversation, NewMessage, StoredMessage};
use super::{reply, store};
use crate::agents::{self, AgentSettings};
use crate::channels;
use crate::error::{AppError, AppResult};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler, NewJob};
use crate::services::Services;

pub const JOB: &str = "conversations.follow_up";

/// The n-th follow-up of a silence, to follow the message `after`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowUpJob {
    conversation_id: String,
    /// 1 for the first follow-up after the agent's message.
    n: i64,
    /// The message it follows: the agent's for the first, the previous follow-up after.
    after: String,
}

/// Queues the first follow-up after `message`, the agent's, on `conn` (the transaction that
/// stores it), when the agent's settings ask for follow-ups.
pub async fn schedule<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    settings: &AgentSettings,
    message: &StoredMessage,
) -> AppResult<()> {
    let job = FollowUpJob {
        conversation_id: message.conversation_id.clone(),
        n: 1,
        after: message.id.clone(),
    };
    queue(s, conn, settings, &job, s.clock.now()).await
}

/// Queues `job` due `delay` after `from`, or at the next opening after that.
async fn queue<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    settings: &AgentSettings,
    job: &FollowUpJob,
    from: DateTime<Utc>,
) -> AppResult<()> {
    let rules = &settings.follow_up;
    if !rules.enabled || rules.messages.is_empty() {
        return Ok(());
    }
    if job.n > i64::from(rules.max_follow_ups) {
        if job.n > 1 {
            tracing::info!(conversation = %job.conversation_id, max = rules.max_follow_ups, "⏭️ Follow-up worker: Max follow-ups reached");
        }
        return Ok(());
    }
    let due = from + chrono::Duration::minutes(i64::from(rules.delay_minutes));
    let Some(at) = settings.next_opening(due) else {
        tracing::info!(conversation = %job.conversation_id, "the agent has no working hours left: no follow-up");
        return Ok(());
    };
    // A postponed follow-up is a job of its own, keyed by when it opens.
    let mut key = format!("follow_up:{}:{}:{}", job.conversation_id, job.n, job.after);
    if at != due {
        key.push_str(&format!(":{}", at.timestamp()));
        tracing::info!(conversation = %job.conversation_id, n = job.n, %at, "follow-up due outside working hours: postponed to the next opening");
    }
    let new = NewJob::new(JOB, job)?
        .run_at(at)
        .max_attempts(s.config.agents.reply_max_attempts)
        .unique_key(key);
    s.jobs.enqueue_on(conn, new).await?;
    Ok(())
}

pub struct FollowUpHandler {
    services: Services,
}

impl FollowUpHandler {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }
}

#[async_trait]
impl JobHandler for FollowUpHandler {
    fn kind(&self) -> &'static str {
        JOB
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        follow_up(&self.services, job.payload()?, job.attempt).await
    }
}

/// What a due follow-up job does: sends the follow-up, or finds why not and says so.
async fn follow_up(s: &Services, job: FollowUpJob, attempt: u32) -> Result<(), JobFailure> {
    let conversation = match store::load(&s.db, &job.conversation_id).await {
        Ok(conversation) => conversation,
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    if let Some(stored) = store::reply_to(&s.db, &job.after).await? {
        // An earlier attempt of this job stored it and did not get to send it: send it now
        // (at most once). On a first attempt another job sent it.
        if attempt > 1 {
            return send(s, &conversation, stored).await;
        }
        tracing::info!(conversation = %conversation.id, n = job.n, "⏭️ Follow-up worker: sent already");
        return Ok(());
    }
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    let settings = agent.settings()?;
    let rules = &settings.follow_up;
    let skip = if !rules.enabled {
        Some("follow-ups are off")
    } else if agent.is_deleted() || !agent.is_active {
        Some("the agent is inactive")
    } else if conversation.manual_mode {
        Some("manual mode")
    } else {
        None
    };
    if let Some(why) = skip {
        tracing::info!(conversation = %conversation.id, why, "⏭️ Follow-up worker: skipping follow-up");
        return Ok(());
    }
    if job.n > i64::from(rules.max_follow_ups) {
        tracing::info!(conversation = %conversation.id, "⏭️ Follow-up worker: Max follow-ups reached");
        return Ok(());
    }
    let now = s.clock.now();
    if !settings.is_open(now) {
        // Working hours changed since it was queued: wait for the next opening.
        let txn = crate::db::begin(&s.db).await?;
        let from = now - chrono::Duration::minutes(i64::from(rules.delay_minutes));
        queue(s, &txn, &settings, &job, from).await?;
        txn.commit().await?;
        return Ok(());
    }
    let after = store::message(&s.db, &job.after).await?;
    let Some(stored) = claim_and_store(s, &settings, &conversation, &job, &after).await? else {
        return Ok(());
    };
    s.jobs.wake();
    lifecycle::announce(s, stored.clone()).await;
    tracing::info!(conversation = %conversation.id, n = job.n, "📢 Follow-up worker: Sending follow-up to {}", conversation.chat_id);
    send(s, &conversation, stored).await
}

/// In one transaction: moves the count from n - 1 to n, checks the customer kept silent,
/// stores the follow-up and queues the next one. `None` when it is not this one's to send.
async fn claim_and_store(
    s: &Services,
    settings: &AgentSettings,
    conversation: &Conversation,
    job: &FollowUpJob,
    after: &StoredMessage,
) -> Result<Option<StoredMessage>, JobFailure> {
    let rules = &settings.follow_up;
    let txn = crate::db::begin(&s.db).await?;
    // Takes the conversation's row lock: a customer's message stored meanwhile waits for
    // this transaction, or committed before it and is seen below.
    let claimed = conversation::Entity::update_many()
        .col_expr(conversation::Column::FollowUpsSent, Expr::value(job.n))
        .filter(conversation::Column::Id.eq(&conversation.id))
        .filter(conversation::Column::FollowUpsSent.eq(job.n - 1))
        .filter(conversation::Column::ManualMode.eq(false))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        tracing::info!(conversation = %conversation.id, n = job.n, "⏭️ Follow-up worker: sent already, or the customer wrote since");
        return Ok(None);
    }
    if rules.only_if_no_reply && store::customer_wrote_after(&txn, after).await? {
        txn.rollback().await?;
        tracing::info!(conversation = %conversation.id, "⏭️ Follow-up worker: User replied, skipping follow-up");
        return Ok(None);
    }
    let text = text_of(&rules.messages, job.n);
    let mut message = NewMessage::outgoing(MessageRole::Assistant, text);
    message.reply_to = Some(after.id.clone());
    let stored = match lifecycle::append(s, &txn, conversation, message).await {
        Ok(stored) => stored,
        Err(AppError::Conflict(_)) => {
            txn.rollback().await?;
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let next = FollowUpJob {
        conversation_id: conversation.id.clone(),
        n: job.n + 1,
        after: stored.id.clone(),
    };
    queue(s, &txn, settings, &next, s.clock.now()).await?;
    txn.commit().await?;
    Ok(Some(stored))
}

async fn send(
    s: &Services,
    conversation: &Conversation,
    stored: StoredMessage,
) -> Result<(), JobFailure> {
    let integration = match channels::load(&s.db, &conversation.integration_id).await {
        Ok(integration) => integration,
        Err(AppError::NotFound(_)) => {
            return Err(JobFailure::permanent("the integration no longer exists"))
        }
        Err(err) => return Err(err.into()),
    };
    let agent = agents::load(&s.db, &conversation.agent_id).await?;
    reply::send(s, &integration, &agent, conversation, stored).await
}

/// The n-th follow-up's words: the n-th message, the last one once they run out.
fn text_of(messages: &[String], n: i64) -> String {
    let index = usize::try_from(n - 1).unwrap_or(0);
    messages
        .get(index)
        .or(messages.last())
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::text_of;

    #[test]
    fn the_nth_follow_up_says_the_nth_message_and_the_last_once_they_run_out() {
        let messages = vec!["first".to_string(), "second".to_string()];
        assert_eq!(text_of(&messages, 1), "first");
        assert_eq!(text_of(&messages, 2), "second");
        assert_eq!(text_of(&messages, 3), "second");
    }
}
