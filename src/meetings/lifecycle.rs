//! Status changes: written with their history row in one transaction, guarded by the bot's
//! sequence so two writers never both apply, committed, then announced on the bus. Nothing
//! else in the domain changes a bot's status or publishes one.

use std::future::Future;

use chrono::{SubsecRound, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryIntoModel};
use serde_json::{json, Value};

use super::entity::{bot, status_change};
use super::events::{status_topic, BotStatusChange};
use super::status::{BotStatus, ChangeSource};
use super::store::{self, MeetingBot};
use crate::error::{AppError, AppResult};
use crate::services::Services;
use crate::webhooks::{self, EventType, Outgoing};

/// A status change to make, with what comes with it.
#[derive(Default)]
pub struct Transition {
    pub reason: Option<String>,
    pub error_message: Option<String>,
    pub result_data: Option<Value>,
    pub session_id: Option<String>,
}

impl Transition {
    pub fn because(reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::default()
        }
    }

    pub fn failure(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            error_message: Some(reason.clone()),
            reason: Some(reason),
            ..Self::default()
        }
    }
}

/// How many times a decision is made again on a fresh read before giving up.
const FRESH_READS: usize = 8;

/// Decides on the bot as read; `decide` answers `None` when its decision did not apply
/// because the bot moved since it was read, and then the bot is read again and the decision
/// made again. So a decision made on a stale read (a timeout, a stop, a service's report) is
/// never applied to a bot that has moved on.
pub async fn decide_on_fresh_reads<T, F, Fut>(
    s: &Services,
    bot: MeetingBot,
    mut decide: F,
) -> AppResult<T>
where
    F: FnMut(MeetingBot) -> Fut,
    Fut: Future<Output = AppResult<Option<T>>>,
{
    let id = bot.id.clone();
    let mut bot = bot;
    for _ in 0..FRESH_READS {
        if let Some(decided) = decide(bot).await? {
            return Ok(decided);
        }
        bot = store::load(&s.db, &id).await?;
    }
    Err(AppError::internal(format!(
        "bot {id}: too many concurrent status changes"
    )))
}

/// Moves a bot to `next` if the status machine allows it: forward only, final states final.
/// Asking for the current status again changes nothing; an invalid transition is logged and
/// refused with CONFLICT. Answers the bot as written.
pub async fn change_status(
    s: &Services,
    bot_id: &str,
    next: BotStatus,
    source: ChangeSource,
    transition: Transition,
) -> AppResult<MeetingBot> {
    let bot = store::load(&s.db, bot_id).await?;
    let transition = &transition;
    decide_on_fresh_reads(s, bot, |bot| async move {
        change_status_from(s, &bot, next, source, transition).await
    })
    .await
}

/// The bot ends in ERROR, `reason` becoming its error message.
pub async fn fail(
    s: &Services,
    bot_id: &str,
    source: ChangeSource,
    reason: impl Into<String>,
) -> AppResult<MeetingBot> {
    change_status(
        s,
        bot_id,
        BotStatus::Error,
        source,
        Transition::failure(reason),
    )
    .await
}

/// Moves `bot` to `next` only if it is still as it was read; `None` when it has moved on.
/// Otherwise as [`change_status`].
pub async fn change_status_from(
    s: &Services,
    bot: &MeetingBot,
    next: BotStatus,
    source: ChangeSource,
    transition: &Transition,
) -> AppResult<Option<MeetingBot>> {
    if !check_transition(bot, next, source)? {
        return Ok(Some(bot.clone()));
    }
    let txn = crate::db::begin(&s.db).await?;
    let Some((bot, change)) = write_change(s, &txn, bot, next, source, transition).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    txn.commit().await?;
    announce(s, change).await;
    Ok(Some(bot))
}

/// Whether `bot` may become `next`: `false` when it already is (nothing to do), CONFLICT
/// (logged) when the machine forbids it.
pub fn check_transition(
    bot: &MeetingBot,
    next: BotStatus,
    source: ChangeSource,
) -> AppResult<bool> {
    let current = bot.status;
    if current == next {
        return Ok(false);
    }
    if !current.can_become(next) {
        tracing::warn!(bot = %bot.id, from = current.as_str(), to = next.as_str(), source = source.as_str(), "refused an invalid bot status transition");
        return Err(AppError::Conflict(format!(
            "the bot is {}; it cannot become {}",
            current.as_str(),
            next.as_str()
        )));
    }
    Ok(true)
}

/// Writes the change on `conn` (a transaction the caller commits, then [`announce`]s) with
/// its outgoing webhooks, unless the bot changed since `bot` was read, in which case it
/// writes nothing and answers `None`. Answers `bot` with the change applied (no read needed)
/// and its history row.
pub async fn write_change<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    bot: &MeetingBot,
    next: BotStatus,
    source: ChangeSource,
    transition: &Transition,
) -> AppResult<Option<(MeetingBot, status_change::Model)>> {
    // Microseconds, as both databases keep them: the bot answered equals the bot read later.
    let now = Utc::now().trunc_subsecs(6);
    let sequence = bot.sequence + 1;
    // Only the columns set here are written: others (the bot service's ids, say) may have
    // been written since `bot` was read without a change of status.
    let mut written: bot::ActiveModel = bot.clone().into();
    written.status = Set(next);
    written.sequence = Set(sequence);
    written.status_changed_at = Set(now);
    written.updated_at = Set(now);
    if next.is_final() {
        written.active_key = Set(None);
    }
    if let Some(message) = &transition.error_message {
        written.error_message = Set(Some(message.clone()));
    }
    if let Some(data) = &transition.result_data {
        written.result_data = Set(Some(data.to_string()));
    }
    if let Some(session) = &transition.session_id {
        written.session_id = Set(Some(session.clone()));
    }
    let updated = bot::Entity::update_many()
        .set(written.clone())
        .filter(bot::Column::Id.eq(&bot.id))
        .filter(bot::Column::Sequence.eq(bot.sequence))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    let change = status_change::Model {
        bot_id: bot.id.clone(),
        sequence,
        status: next,
        source,
        reason: transition.reason.clone(),
        at: now,
    };
    // Every column is known here, so the row is not read back (on SQLite that would be
    // another statement before the first subscriber hears of the change).
    status_change::Entity::insert(status_change::ActiveModel::from(change.clone()))
        .exec_without_returning(conn)
        .await?;
    let written = written.try_into_model()?;
    for outgoing in webhooks_of(bot, &written, &change) {
        webhooks::emit_on(s, conn, outgoing).await?;
    }
    Ok(Some((written, change)))
}

/// What integrators hear of a change: the status, and the meeting's end when it is final.
fn webhooks_of(
    before: &MeetingBot,
    bot: &MeetingBot,
    change: &status_change::Model,
) -> Vec<Outgoing> {
    let order = (status_topic(&bot.id), change.sequence);
    let status = json!({
        "botId": bot.id,
        "status": change.status,
        "previousStatus": before.status,
        "sequence": change.sequence,
        "source": change.source,
        "reason": change.reason,
        "at": change.at,
    });
    let mut outgoing = vec![
        Outgoing::new(&bot.org_id, EventType::BotStatusChanged, status)
            .ordered(order.0.clone(), order.1),
    ];
    let ended = match change.status {
        BotStatus::Done => Some(EventType::MeetingCompleted),
        BotStatus::Error => Some(EventType::MeetingFailed),
        _ => None,
    };
    if let Some(event_type) = ended {
        let result: Option<Value> = bot
            .result_data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let meeting = json!({
            "botId": bot.id,
            "meetUrl": bot.meet_url,
            "platform": bot.platform,
            "status": change.status,
            "errorMessage": bot.error_message,
            "resultData": result,
            "at": change.at,
        });
        outgoing.push(Outgoing::new(&bot.org_id, event_type, meeting).ordered(order.0, order.1));
    }
    outgoing
}

/// After the commit: log, count and push a change to its subscribers.
pub async fn announce(s: &Services, change: status_change::Model) {
    tracing::info!(bot = %change.bot_id, to = change.status.as_str(), source = change.source.as_str(), "bot status changed");
    metrics::counter!("switchboard_bot_status_changes_total", "status" => change.status.as_str())
        .increment(1);
    s.bus.publish(BotStatusChange::from(change)).await;
    s.jobs.wake();
}
