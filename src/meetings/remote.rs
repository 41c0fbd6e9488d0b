//! Reconciliation with the bot service: what it reports (by the status sync or its push)
//! becomes our status, a recording it hands over starts the pipeline, and a bot we stopped
//! is told to leave.

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::entity::bot;
use super::lifecycle::{change_status_from, decide_on_fresh_reads, Transition};
use super::pipeline;
use super::status::{BotStatus, ChangeSource};
use super::store::{self, MeetingBot};
use crate::error::{AppError, AppResult};
use crate::providers::bot_service::{BotRef, RemoteBot, RemoteState};
use crate::providers::transcription::Segment;
use crate::services::Services;

/// How the bot service knows the bot, once it has said.
pub fn bot_ref(bot: &MeetingBot) -> Option<BotRef> {
    Some(BotRef {
        external_id: bot.external_bot_id.clone()?,
        platform: bot.platform.as_str().to_string(),
        native_meeting_id: bot.native_meeting_id.clone(),
        session_id: bot.session_id.clone(),
    })
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
    let applied = decide_on_fresh_reads(s, bot.clone(), |bot| async move {
        follow_remote(s, &bot, remote, source).await
    })
    .await;
    if let Err(err) = applied {
        tracing::debug!(bot = %bot.id, error = ?err, "bot service report not applied");
    }
}

/// `Some` when the report is applied or there is nothing to apply; `None` when the bot
/// changed since it was read.
async fn follow_remote(
    s: &Services,
    bot: &MeetingBot,
    remote: &RemoteBot,
    source: ChangeSource,
) -> AppResult<Option<()>> {
    let current = bot.status;
    let session_id = remote
        .session_id
        .clone()
        .filter(|_| bot.session_id.is_none());
    // Already there, with nothing new to record: no transaction needed to find that out,
    // which is most bots at most ticks.
    let unchanged = |status: BotStatus| status == current && session_id.is_none();
    let settled = Ok(Some(()));
    let (next, transition) = match &remote.state {
        RemoteState::Requested => return settled,
        RemoteState::Joining if unchanged(BotStatus::Connecting) => return settled,
        RemoteState::AwaitingAdmission if unchanged(BotStatus::AwaitingAdmission) => {
            return settled
        }
        RemoteState::Active if unchanged(BotStatus::Connected) => return settled,
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
            return settled
        }
        RemoteState::Completed | RemoteState::Absent => match &remote.recording_url {
            Some(url) => {
                let started = pipeline::start(s, bot, url, source).await;
                return handed_over(s, bot, source, started).await;
            }
            None if remote.state == RemoteState::Absent && current != BotStatus::Connected => {
                return settled
            }
            None if current == BotStatus::Connected && !recording_wait_over(s, bot).await? => {
                return settled
            }
            // No recording, but the service may have transcribed the meeting itself.
            None if current == BotStatus::Connected => match services_transcript(s, bot).await? {
                Some(transcript) => {
                    let started = pipeline::start_from_transcript(s, bot, transcript, source).await;
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
            return applied(change_status_from(s, bot, BotStatus::Error, source, &failure).await?);
        }
        RemoteState::Unknown(state) => {
            tracing::debug!(bot = %bot.id, state, "bot service reported a state we do not know");
            return settled;
        }
    };
    let transition = Transition {
        reason: Some(transition),
        session_id,
        ..Transition::default()
    };
    applied(change_status_from(s, bot, next, source, &transition).await?)
}

fn applied(change: Option<MeetingBot>) -> AppResult<Option<()>> {
    Ok(change.map(|_| ()))
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
async fn services_transcript(s: &Services, bot: &MeetingBot) -> AppResult<Option<Vec<Segment>>> {
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
) -> AppResult<Option<()>> {
    match started {
        Err(AppError::BadInput(why) | AppError::NotConfigured(why)) => {
            let failure =
                Transition::failure(format!("the recording could not be processed: {why}"));
            applied(change_status_from(s, bot, BotStatus::Error, source, &failure).await?)
        }
        started => started.map(|_| Some(())),
    }
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

/// Records the bot service's ids for a bot it has just started.
pub async fn record_started(s: &Services, bot_id: &str, remote: &RemoteBot) -> AppResult<()> {
    bot::Entity::update_many()
        .col_expr(
            bot::Column::ExternalBotId,
            Expr::value(remote.external_id.clone()),
        )
        .col_expr(
            bot::Column::SessionId,
            Expr::value(remote.session_id.clone()),
        )
        .filter(bot::Column::Id.eq(bot_id))
        .exec(&s.db)
        .await?;
    Ok(())
}

/// A bot stopped before the service had said its id (it was still starting it) is told to
/// leave once the id is known: if the trigger stored it after reading the bot as not yet
/// stopped, nothing else would.
pub async fn tell_late_started_bot_to_leave(s: &Services, read_before_stop: &MeetingBot) {
    if bot_ref(read_before_stop).is_some() {
        return;
    }
    if let Ok(now) = store::load(&s.db, &read_before_stop.id).await {
        tell_to_leave(s, &now).await;
    }
}

/// Best effort: asks the bot service to take a bot stopped while it was starting out of the
/// meeting.
pub async fn tell_to_leave(s: &Services, bot: &MeetingBot) {
    let (Some(reference), Ok(bot_service)) = (bot_ref(bot), s.providers.bot_service()) else {
        return;
    };
    if let Err(err) = bot_service.stop(&reference).await {
        tracing::warn!(bot = %bot.id, error = %err.describe(), "could not stop a bot stopped while it was starting");
    }
}
