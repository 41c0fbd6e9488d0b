//! The meetings rules: triggering and stopping bots, the status machine with its history,
//! the recording pipeline's entry point, retention. No GraphQL here.

use std::collections::HashMap;

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait, TryIntoModel,
};
use serde_json::Value;

use super::entity::{bot, segment, status_change, task};
use super::events::{BotStatusChange, TranscriptSegment};
use super::link::{self, MeetingPlatform};
use super::status::{BotStatus, ChangeSource};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::providers::bot_service::{BotRef, RemoteBot, RemoteState, StartBot};
use crate::Services;

pub use bot::Model as MeetingBot;

pub struct TriggerInput {
    pub meet_url: String,
    pub bot_name: String,
    /// Repeating a trigger with the same key returns the first bot instead of a CONFLICT.
    pub idempotency_key: Option<String>,
}

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

fn status_of(bot: &MeetingBot) -> AppResult<BotStatus> {
    BotStatus::parse(&bot.status)
}

fn active_key(org_id: &str, platform: MeetingPlatform, native_id: &str) -> String {
    format!("{org_id}|{}|{native_id}", platform.as_str())
}

pub fn bot_ref(bot: &MeetingBot) -> Option<BotRef> {
    Some(BotRef {
        external_id: bot.external_bot_id.clone()?,
        platform: bot.platform.clone(),
        native_meeting_id: bot.native_meeting_id.clone(),
        session_id: bot.session_id.clone(),
    })
}

/// A bot of the viewer's organisation; another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<MeetingBot> {
    let bot = bot::Entity::find_by_id(crate::input::id(id, "meeting bot")?)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))?;
    viewer.owns(&bot.org_id, "meeting bot")?;
    Ok(bot)
}

/// A bot by our id or the bot service's, for callbacks that may know either. A service id
/// can come back (Vexa's is the meeting's, and a weekly meeting keeps it): the newest bot is
/// the one the service means.
pub async fn find_for_callback(db: &DatabaseConnection, id: &str) -> AppResult<MeetingBot> {
    bot::Entity::find()
        .filter(
            Condition::any()
                .add(bot::Column::Id.eq(id))
                .add(bot::Column::ExternalBotId.eq(id)),
        )
        .order_by_desc(bot::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

/// The bot a push names by the service's id for it and, when given, the service's id of the
/// run (a Vexa meeting record): the newest such bot.
pub async fn find_pushed(
    db: &DatabaseConnection,
    external_id: &str,
    session_id: Option<&str>,
) -> AppResult<MeetingBot> {
    let mut query = bot::Entity::find().filter(bot::Column::ExternalBotId.eq(external_id));
    if let Some(session_id) = session_id {
        query = query.filter(bot::Column::SessionId.eq(session_id));
    }
    query
        .order_by_desc(bot::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

pub async fn trigger(s: &Services, viewer: &Viewer, input: TriggerInput) -> AppResult<MeetingBot> {
    viewer.require(Role::Manager)?;
    let link = link::parse(&input.meet_url)?;
    let bot_name = crate::input::line("botName", &input.bot_name, 100)?;
    let key = input
        .idempotency_key
        .filter(|k| !k.trim().is_empty())
        .map(|k| crate::input::line("idempotencyKey", &k, 200))
        .transpose()?;
    if let Some(existing) = find_by_idempotency_key(&s.db, &viewer.org_id, key.as_deref()).await? {
        return same_meeting(existing, &link);
    }
    let bot_service = s.providers.bot_service()?.clone();

    let now = Utc::now().trunc_subsecs(6);
    let id = uuid::Uuid::new_v4().to_string();
    let row = bot::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(viewer.org_id.clone()),
        user_id: Set(viewer.user_id.clone()),
        meet_url: Set(link.url.clone()),
        platform: Set(link.platform.as_str().to_string()),
        native_meeting_id: Set(link.native_id.clone()),
        bot_name: Set(bot_name.clone()),
        status: Set(BotStatus::Initialized.as_str().to_string()),
        sequence: Set(1),
        external_bot_id: Set(None),
        session_id: Set(None),
        error_message: Set(None),
        result_data: Set(None),
        audio_url: Set(None),
        summary: Set(None),
        idempotency_key: Set(key.clone()),
        remote_ended_at: Set(None),
        active_key: Set(Some(active_key(
            &viewer.org_id,
            link.platform,
            &link.native_id,
        ))),
        status_changed_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let first = status_change::ActiveModel {
        bot_id: Set(id.clone()),
        sequence: Set(1),
        status: Set(BotStatus::Initialized.as_str().to_string()),
        source: Set(ChangeSource::User.as_str().to_string()),
        reason: Set(Some(format!("triggered by {}", viewer.user_id))),
        at: Set(now),
    };
    let txn = s.db.begin().await?;
    if let Err(err) = row.insert(&txn).await {
        txn.rollback().await?;
        return match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("idempotency") => {
                let existing = find_by_idempotency_key(&s.db, &viewer.org_id, key.as_deref())
                    .await?
                    .ok_or_else(|| AppError::internal("idempotency conflict without a bot"))?;
                same_meeting(existing, &link)
            }
            Some(SqlErr::UniqueConstraintViolation(_)) => Err(AppError::Conflict(format!(
                "a bot is already active in this {} meeting ({}); stop it or wait for it to finish",
                link.platform.as_str(),
                link.native_id
            ))),
            _ => Err(err.into()),
        };
    }
    let first = first.insert(&txn).await?;
    txn.commit().await?;
    s.bus.publish(BotStatusChange::from_row(first)?).await;

    let request = StartBot {
        meet_url: link.url,
        platform: link.platform.as_str().to_string(),
        native_meeting_id: link.native_id,
        passcode: link.passcode,
        bot_name,
        user_id: viewer.user_id.clone(),
        callback_url: format!(
            "{}/api/v1/meet/webhook",
            s.config.public_base_url.as_str().trim_end_matches('/')
        ),
    };
    match bot_service.start(&request).await {
        Ok(remote) => {
            bot::Entity::update_many()
                .col_expr(
                    bot::Column::ExternalBotId,
                    Expr::value(remote.external_id.clone()),
                )
                .col_expr(
                    bot::Column::SessionId,
                    Expr::value(remote.session_id.clone()),
                )
                .filter(bot::Column::Id.eq(&id))
                .exec(&s.db)
                .await?;
            let bot = load(&s.db, &id).await?;
            if status_of(&bot)?.is_final() {
                // Stopped while the service was starting it, when there was no bot to tell.
                tell_to_leave(s, &bot).await;
                return Ok(bot);
            }
            apply_remote(s, &bot, &remote, ChangeSource::Sync).await;
            Ok(bot::Entity::find_by_id(id).one(&s.db).await?.unwrap_or(bot))
        }
        Err(err) => {
            let message = format!(
                "the bot service could not start the bot: {}",
                err.describe()
            );
            fail(s, &id, ChangeSource::User, message).await?;
            Err(err.into())
        }
    }
}

/// A repeated trigger answers the bot its key made, if it asks for the same meeting; a key
/// reused for another meeting is a client's mistake, not a replay.
fn same_meeting(existing: MeetingBot, link: &link::MeetingLink) -> AppResult<MeetingBot> {
    if existing.platform == link.platform.as_str() && existing.native_meeting_id == link.native_id {
        return Ok(existing);
    }
    Err(AppError::Conflict(
        "this idempotencyKey was used for a trigger of another meeting".into(),
    ))
}

async fn find_by_idempotency_key(
    db: &DatabaseConnection,
    org_id: &str,
    key: Option<&str>,
) -> AppResult<Option<MeetingBot>> {
    let Some(key) = key else { return Ok(None) };
    Ok(bot::Entity::find()
        .filter(bot::Column::OrgId.eq(org_id))
        .filter(bot::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Moves a bot to `next` if the status machine allows it: forward only, final states final.
/// The change and its history row are written together, guarded by the bot's sequence so two
/// writers never both apply; then subscribers are told. Asking for the current status again
/// changes nothing; an invalid transition is logged and refused with CONFLICT. Answers the
/// bot as written.
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

pub async fn change_status(
    s: &Services,
    bot_id: &str,
    next: BotStatus,
    source: ChangeSource,
    transition: Transition,
) -> AppResult<MeetingBot> {
    for _ in 0..8 {
        let bot = load(&s.db, bot_id).await?;
        // Someone else changed the bot since we read it: read again and re-decide.
        if let Some(bot) = change_status_from(s, &bot, next, source, &transition).await? {
            return Ok(bot);
        }
    }
    Err(AppError::internal(format!(
        "bot {bot_id}: too many concurrent status changes"
    )))
}

/// Moves `bot` to `next` only if it is still as it was read: a decision made on what was read
/// (a timeout, a stop, a bot service's report) is not applied once the bot has moved on, and
/// the answer is `None`. Otherwise as [`change_status`].
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
    let txn = s.db.begin().await?;
    let Some((bot, change)) = write_change(&txn, bot, next, source, transition).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    txn.commit().await?;
    announce(s, change).await?;
    Ok(Some(bot))
}

pub async fn load(db: &DatabaseConnection, bot_id: &str) -> AppResult<MeetingBot> {
    bot::Entity::find_by_id(bot_id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

/// Whether `bot` may become `next`: `false` when it already is (nothing to do), CONFLICT
/// (logged) when the machine forbids it.
pub(super) fn check_transition(
    bot: &MeetingBot,
    next: BotStatus,
    source: ChangeSource,
) -> AppResult<bool> {
    let current = status_of(bot)?;
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

/// Writes the change on `conn` (a transaction the caller commits) unless the bot changed
/// since `bot` was read, in which case it writes nothing and answers `None`. Answers `bot`
/// with the change applied (no read needed) and its history row.
pub(super) async fn write_change<C: sea_orm::ConnectionTrait>(
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
    written.status = Set(next.as_str().to_string());
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
        status: next.as_str().to_string(),
        source: source.as_str().to_string(),
        reason: transition.reason.clone(),
        at: now,
    };
    // Every column is known here, so the row is not read back (on SQLite that would be
    // another statement before the first subscriber hears of the change).
    status_change::Entity::insert(status_change::ActiveModel::from(change.clone()))
        .exec_without_returning(conn)
        .await?;
    Ok(Some((written.try_into_model()?, change)))
}

/// After the commit: log, count and push a change to its subscribers.
pub(super) async fn announce(s: &Services, change: status_change::Model) -> AppResult<()> {
    tracing::info!(bot = %change.bot_id, to = %change.status, source = %change.source, "bot status changed");
    metrics::counter!("switchboard_bot_status_changes_total", "status" => change.status.clone())
        .increment(1);
    s.bus.publish(BotStatusChange::from_row(change)?).await;
    Ok(())
}

/// Brings our record in line with what the bot service reports. Nothing here fails the
/// caller: an out-of-order report is logged and dropped by the status machine. A decision
/// made on `bot` is made again on a fresh read if the bot changed in between (a webhook and
/// the sync crossing, say), never applied to a bot that has moved on.
pub async fn apply_remote(
    s: &Services,
    bot: &MeetingBot,
    remote: &RemoteBot,
    source: ChangeSource,
) {
    let mut bot = std::borrow::Cow::Borrowed(bot);
    for _ in 0..4 {
        match follow_remote(s, &bot, remote, source).await {
            Ok(Followed::Stale) => match load(&s.db, &bot.id).await {
                Ok(fresh) => bot = std::borrow::Cow::Owned(fresh),
                Err(err) => {
                    tracing::debug!(bot = %bot.id, error = ?err, "bot service report not applied");
                    return;
                }
            },
            Ok(Followed::Settled) => return,
            Err(err) => {
                tracing::debug!(bot = %bot.id, error = ?err, "bot service report not applied");
                return;
            }
        }
    }
}

/// What came of a bot service's report.
enum Followed {
    /// Applied, or nothing to apply.
    Settled,
    /// The bot changed since it was read: decide again.
    Stale,
}

async fn follow_remote(
    s: &Services,
    bot: &MeetingBot,
    remote: &RemoteBot,
    source: ChangeSource,
) -> AppResult<Followed> {
    let current = status_of(bot)?;
    let session_id = remote
        .session_id
        .clone()
        .filter(|_| bot.session_id.is_none());
    // Already there, with nothing new to record: no transaction needed to find that out,
    // which is most bots at most ticks.
    let unchanged = |status: BotStatus| status == current && session_id.is_none();
    let (next, transition) = match &remote.state {
        RemoteState::Requested => return Ok(Followed::Settled),
        RemoteState::Joining if unchanged(BotStatus::Connecting) => return Ok(Followed::Settled),
        RemoteState::AwaitingAdmission if unchanged(BotStatus::AwaitingAdmission) => {
            return Ok(Followed::Settled)
        }
        RemoteState::Active if unchanged(BotStatus::Connected) => return Ok(Followed::Settled),
        RemoteState::Joining => (BotStatus::Connecting, "the bot is joining".to_string()),
        RemoteState::AwaitingAdmission => (
            BotStatus::AwaitingAdmission,
            "the bot is waiting to be admitted".to_string(),
        ),
        RemoteState::Active => (
            BotStatus::Connected,
            "the bot is in the meeting".to_string(),
        ),
        // Once the recording is handed over, the pipeline decides how the bot ends.
        RemoteState::Completed | RemoteState::Absent | RemoteState::Failed
            if current >= BotStatus::Transcribing =>
        {
            return Ok(Followed::Settled)
        }
        RemoteState::Completed | RemoteState::Absent => match &remote.recording_url {
            Some(url) => {
                let started = super::pipeline::start(s, bot, url, source).await;
                return handed_over(s, bot, source, started).await;
            }
            None if remote.state == RemoteState::Absent && current != BotStatus::Connected => {
                return Ok(Followed::Settled)
            }
            None if current == BotStatus::Connected && !recording_wait_over(s, bot).await? => {
                return Ok(Followed::Settled)
            }
            // No recording, but the service may have transcribed the meeting itself.
            None if current == BotStatus::Connected => match services_transcript(s, bot).await? {
                Some(transcript) => {
                    let started =
                        super::pipeline::start_from_transcript(s, bot, transcript, source).await;
                    return handed_over(s, bot, source, started).await;
                }
                None => (BotStatus::Done, ended_with_nothing(s, bot, remote)),
            },
            None => (BotStatus::Done, ended_with_nothing(s, bot, remote)),
        },
        RemoteState::Failed => {
            let reason = remote
                .reason
                .clone()
                .unwrap_or_else(|| "the bot service reported a failure".into());
            let failure = Transition::failure(format!("bot service: {reason}"));
            return settled(change_status_from(s, bot, BotStatus::Error, source, &failure).await?);
        }
        RemoteState::Unknown(state) => {
            tracing::debug!(bot = %bot.id, state, "bot service reported a state we do not know");
            return Ok(Followed::Settled);
        }
    };
    let transition = Transition {
        reason: Some(transition),
        session_id,
        ..Transition::default()
    };
    settled(change_status_from(s, bot, next, source, &transition).await?)
}

/// Why a bot whose meeting is over ends DONE without the pipeline.
fn ended_with_nothing(s: &Services, bot: &MeetingBot, remote: &RemoteBot) -> String {
    match &remote.reason {
        Some(why) => format!("the meeting ended with no recording ({why})"),
        None if bot.remote_ended_at.is_some() => format!(
            "the meeting ended and no recording came within {} s",
            s.config.meetings.recording_grace_secs
        ),
        None => "the meeting ended with no recording".to_string(),
    }
}

/// The meeting's transcript from a service that makes one, if it has any. A failure worth
/// retrying is the caller's (the next report asks again); any other means there is none.
async fn services_transcript(
    s: &Services,
    bot: &MeetingBot,
) -> AppResult<Option<Vec<crate::providers::transcription::Segment>>> {
    let Some(reference) = bot_ref(bot) else {
        return Ok(None);
    };
    match s.providers.bot_service()?.transcript(&reference).await {
        Ok(transcript) => Ok(transcript.filter(|segments| !segments.is_empty())),
        Err(err) if err.is_transient() => Err(err.into()),
        Err(err) => {
            tracing::info!(bot = %bot.id, error = %err.describe(), "the bot service has no transcript of the meeting");
            Ok(None)
        }
    }
}

/// The outcome of handing a meeting's recording or transcript to the pipeline: one that can
/// never be processed ends the bot in ERROR saying why, since asking again at every report
/// would change nothing.
async fn handed_over(
    s: &Services,
    bot: &MeetingBot,
    source: ChangeSource,
    started: AppResult<MeetingBot>,
) -> AppResult<Followed> {
    match started {
        Err(AppError::BadInput(why) | AppError::NotConfigured(why)) => {
            let failure =
                Transition::failure(format!("the recording could not be processed: {why}"));
            settled(change_status_from(s, bot, BotStatus::Error, source, &failure).await?)
        }
        started => started.map(|_| Followed::Settled),
    }
}

fn settled(applied: Option<MeetingBot>) -> AppResult<Followed> {
    Ok(match applied {
        Some(_) => Followed::Settled,
        None => Followed::Stale,
    })
}

/// For a service that hands the recording over by callback once the meeting is over (the
/// seed's): whether the bot has waited long enough for it. The first report of the end
/// starts the wait.
async fn recording_wait_over(s: &Services, bot: &MeetingBot) -> AppResult<bool> {
    if !s
        .providers
        .bot_service()?
        .hands_recording_over_by_callback()
    {
        return Ok(true);
    }
    let grace = chrono::Duration::seconds(s.config.meetings.recording_grace_secs as i64);
    match bot.remote_ended_at {
        Some(ended) => Ok(Utc::now() - ended >= grace),
        None => {
            bot::Entity::update_many()
                .col_expr(
                    bot::Column::RemoteEndedAt,
                    Expr::value(Utc::now().trunc_subsecs(6)),
                )
                .filter(bot::Column::Id.eq(&bot.id))
                .filter(bot::Column::RemoteEndedAt.is_null())
                .exec(&s.db)
                .await?;
            tracing::info!(bot = %bot.id, "the bot service says the meeting is over; waiting for its recording");
            Ok(grace.is_zero())
        }
    }
}

pub async fn stop(s: &Services, viewer: &Viewer, id: &str) -> AppResult<MeetingBot> {
    viewer.require(Role::Manager)?;
    let bot = get(&s.db, viewer, id).await?;
    let status = status_of(&bot)?;
    if status.is_final() {
        return Err(AppError::Conflict(format!(
            "the bot is already {}",
            status.as_str()
        )));
    }
    if status >= BotStatus::Transcribing {
        return Err(AppError::Conflict(
            "the meeting is over; its recording is being processed".into(),
        ));
    }
    if let Some(reference) = bot_ref(&bot) {
        match s.providers.bot_service()?.stop(&reference).await {
            // The service knows no such bot: it has left already, which is what was asked.
            Err(err) if err.status == Some(404) => {
                tracing::info!(bot = %bot.id, error = %err.message, "bot service no longer knows the bot it was asked to stop");
            }
            stopped => stopped?,
        }
    }
    let before_it_joined =
        Transition::because(format!("stopped by {} before it joined", viewer.user_id));
    let mut bot = bot;
    for _ in 0..8 {
        // In the meeting (it may have joined while the service was asked): it leaves, and its
        // recording comes through the pipeline.
        if status_of(&bot)? >= BotStatus::Connected {
            return Ok(bot);
        }
        let stopped = change_status_from(
            s,
            &bot,
            BotStatus::Done,
            ChangeSource::User,
            &before_it_joined,
        )
        .await?;
        match stopped {
            Some(stopped) => {
                tell_late_started_bot_to_leave(s, &bot).await;
                return Ok(stopped);
            }
            None => bot = load(&s.db, &bot.id).await?,
        }
    }
    Err(AppError::internal(format!(
        "bot {}: too many concurrent status changes",
        bot.id
    )))
}

/// A bot stopped before the service had said its id (it was still starting it) is told to
/// leave once the id is known: if the trigger stored it after reading the bot as not yet
/// stopped, nothing else would.
async fn tell_late_started_bot_to_leave(s: &Services, read_before_stop: &MeetingBot) {
    if bot_ref(read_before_stop).is_some() {
        return;
    }
    if let Ok(now) = load(&s.db, &read_before_stop.id).await {
        tell_to_leave(s, &now).await;
    }
}

/// Best effort: asks the bot service to take a bot stopped while it was starting out of the
/// meeting.
async fn tell_to_leave(s: &Services, bot: &MeetingBot) {
    let (Some(reference), Ok(bot_service)) = (bot_ref(bot), s.providers.bot_service()) else {
        return;
    };
    if let Err(err) = bot_service.stop(&reference).await {
        tracing::warn!(bot = %bot.id, error = %err.describe(), "could not stop a bot stopped while it was starting");
    }
}

pub struct BotPage {
    pub bots: Vec<MeetingBot>,
    pub has_next: bool,
}

/// Newest first; `after` is the (created_at, id) of the last bot of the previous page.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    status: Option<BotStatus>,
    after: Option<(chrono::DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<BotPage> {
    let mut query = bot::Entity::find().filter(bot::Column::OrgId.eq(&viewer.org_id));
    if let Some(status) = status {
        query = query.filter(bot::Column::Status.eq(status.as_str()));
    }
    if let Some((created_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(bot::Column::CreatedAt.lt(created_at))
                .add(
                    Condition::all()
                        .add(bot::Column::CreatedAt.eq(created_at))
                        .add(bot::Column::Id.lt(id)),
                ),
        );
    }
    let mut bots = query
        .order_by_desc(bot::Column::CreatedAt)
        .order_by_desc(bot::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next = bots.len() as u64 > first;
    bots.truncate(first as usize);
    Ok(BotPage { bots, has_next })
}

pub async fn history(
    db: &DatabaseConnection,
    bot_id: &str,
    after: i64,
) -> AppResult<Vec<BotStatusChange>> {
    status_change::Entity::find()
        .filter(status_change::Column::BotId.eq(bot_id))
        .filter(status_change::Column::Sequence.gt(after))
        .order_by_asc(status_change::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(BotStatusChange::from_row)
        .collect()
}

pub async fn latest_change(
    db: &DatabaseConnection,
    bot_id: &str,
) -> AppResult<Option<BotStatusChange>> {
    status_change::Entity::find()
        .filter(status_change::Column::BotId.eq(bot_id))
        .order_by_desc(status_change::Column::Sequence)
        .one(db)
        .await?
        .map(BotStatusChange::from_row)
        .transpose()
}

pub async fn transcript(
    db: &DatabaseConnection,
    bot_id: &str,
    after: i64,
) -> AppResult<Vec<TranscriptSegment>> {
    Ok(segment::Entity::find()
        .filter(segment::Column::BotId.eq(bot_id))
        .filter(segment::Column::Sequence.gt(after))
        .order_by_asc(segment::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// How many segments the bot's transcript has (its last sequence: they are numbered from 1).
pub async fn transcript_length(db: &DatabaseConnection, bot_id: &str) -> AppResult<i64> {
    Ok(segment::Entity::find()
        .filter(segment::Column::BotId.eq(bot_id))
        .count(db)
        .await? as i64)
}

/// Whether the bot's transcript is all stored: the pipeline stores it in one transaction
/// before the bot moves past TRANSCRIBING, and a finished bot gets none later. A purged bot's
/// transcript is complete too (empty).
pub async fn transcript_is_complete(db: &DatabaseConnection, bot_id: &str) -> AppResult<bool> {
    let status = bot::Entity::find_by_id(bot_id.to_string())
        .select_only()
        .column(bot::Column::Status)
        .into_tuple::<String>()
        .one(db)
        .await?;
    Ok(match status {
        Some(status) => BotStatus::parse(&status)? > BotStatus::Transcribing,
        None => true,
    })
}

pub async fn tasks(db: &DatabaseConnection, bot_id: &str) -> AppResult<Vec<task::Model>> {
    Ok(task::Entity::find()
        .filter(task::Column::BotId.eq(bot_id))
        .order_by_asc(task::Column::Position)
        .all(db)
        .await?)
}

/// Deletes bots created before `cutoff` whose status has not changed since either, with their
/// history, transcript and tasks: a bot still moving (a pipeline retrying) is not old.
pub async fn purge_older_than(
    db: &DatabaseConnection,
    cutoff: chrono::DateTime<Utc>,
) -> AppResult<u64> {
    let mut purged = 0;
    loop {
        // A batch at a time, each bot with its rows in one transaction, so that a first purge
        // of a large backlog never holds SQLite's write lock for long.
        let txn = db.begin().await?;
        let ids = bot::Entity::find()
            .select_only()
            .column(bot::Column::Id)
            .filter(bot::Column::CreatedAt.lt(cutoff))
            .filter(bot::Column::StatusChangedAt.lt(cutoff))
            .limit(PURGE_BATCH)
            .into_tuple::<String>()
            .all(&txn)
            .await?;
        let found = ids.len() as u64;
        task::Entity::delete_many()
            .filter(task::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        segment::Entity::delete_many()
            .filter(segment::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        status_change::Entity::delete_many()
            .filter(status_change::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        bot::Entity::delete_many()
            .filter(bot::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        purged += found;
        if found < PURGE_BATCH {
            return Ok(purged);
        }
    }
}

const PURGE_BATCH: u64 = 500;

/// Status histories, transcripts and tasks of many bots at once (for lists), by bot id.
pub async fn histories_of(
    db: &DatabaseConnection,
    bot_ids: &[String],
) -> AppResult<HashMap<String, Vec<BotStatusChange>>> {
    let rows = status_change::Entity::find()
        .filter(status_change::Column::BotId.is_in(bot_ids.to_vec()))
        .order_by_asc(status_change::Column::BotId)
        .order_by_asc(status_change::Column::Sequence)
        .all(db)
        .await?;
    let changes = rows
        .into_iter()
        .map(BotStatusChange::from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(group_by_bot(changes, |c| c.bot_id.as_str()))
}

pub async fn transcripts_of(
    db: &DatabaseConnection,
    bot_ids: &[String],
) -> AppResult<HashMap<String, Vec<TranscriptSegment>>> {
    let rows = segment::Entity::find()
        .filter(segment::Column::BotId.is_in(bot_ids.to_vec()))
        .order_by_asc(segment::Column::BotId)
        .order_by_asc(segment::Column::Sequence)
        .all(db)
        .await?;
    Ok(group_by_bot(
        rows.into_iter().map(TranscriptSegment::from).collect(),
        |s| s.bot_id.as_str(),
    ))
}

pub async fn tasks_of(
    db: &DatabaseConnection,
    bot_ids: &[String],
) -> AppResult<HashMap<String, Vec<task::Model>>> {
    let rows = task::Entity::find()
        .filter(task::Column::BotId.is_in(bot_ids.to_vec()))
        .order_by_asc(task::Column::BotId)
        .order_by_asc(task::Column::Position)
        .all(db)
        .await?;
    Ok(group_by_bot(rows, |t| t.bot_id.as_str()))
}

fn group_by_bot<T>(rows: Vec<T>, bot_id: impl Fn(&T) -> &str) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        grouped
            .entry(bot_id(&row).to_string())
            .or_default()
            .push(row);
    }
    grouped
}
