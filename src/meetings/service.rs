//! The meetings commands: each takes the services, the caller (or a verified bot service)
//! and an input, checks the role and the rules, and answers the bot. No GraphQL here.

use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, Set, SqlErr};
use serde_json::Value;

use super::entity::{bot, status_change};
use super::lifecycle::{self, change_status_from, decide_on_fresh_reads, Transition};
use super::link::{self, MeetingLink, MeetingPlatform};
use super::pipeline;
use super::remote::{self, apply_remote};
use super::status::{BotStatus, ChangeSource};
use super::store::{self, MeetingBot};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::providers::bot_service::{RemoteBot, StartBot};
use crate::services::Services;

pub struct TriggerInput {
    pub meet_url: String,
    pub bot_name: String,
    /// Repeating a trigger with the same key returns the first bot instead of a CONFLICT.
    pub idempotency_key: Option<String>,
}

/// The key that allows one active bot per meeting per organisation (unique in the database).
fn active_key(org_id: &str, platform: MeetingPlatform, native_id: &str) -> String {
    format!("{org_id}|{}|{native_id}", platform.as_str())
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
    let replayed = store::find_by_idempotency_key(&s.db, &viewer.org_id, key.as_deref()).await?;
    if let Some(existing) = replayed {
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
        platform: Set(link.platform),
        native_meeting_id: Set(link.native_id.clone()),
        bot_name: Set(bot_name.clone()),
        status: Set(BotStatus::Initialized),
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
        status: Set(BotStatus::Initialized),
        source: Set(ChangeSource::User),
        reason: Set(Some(format!("triggered by {}", viewer.user_id))),
        at: Set(now),
    };
    let txn = crate::db::begin(&s.db).await?;
    if let Err(err) = row.insert(&txn).await {
        txn.rollback().await?;
        return match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("idempotency") => {
                let existing =
                    store::find_by_idempotency_key(&s.db, &viewer.org_id, key.as_deref())
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
    lifecycle::announce(s, first).await;

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
        Ok(started) => {
            remote::record_started(s, &id, &started).await?;
            let bot = store::load(&s.db, &id).await?;
            if bot.status.is_final() {
                // Stopped while the service was starting it, when there was no bot to tell.
                remote::tell_to_leave(s, &bot).await;
                return Ok(bot);
            }
            apply_remote(s, &bot, &started, ChangeSource::Sync).await;
            store::load(&s.db, &id).await
        }
        Err(err) => {
            let message = format!(
                "the bot service could not start the bot: {}",
                err.describe()
            );
            lifecycle::fail(s, &id, ChangeSource::User, message).await?;
            Err(err.into())
        }
    }
}

/// A repeated trigger answers the bot its key made, if it asks for the same meeting; a key
/// reused for another meeting is a client's mistake, not a replay.
fn same_meeting(existing: MeetingBot, link: &MeetingLink) -> AppResult<MeetingBot> {
    if existing.platform == link.platform && existing.native_meeting_id == link.native_id {
        return Ok(existing);
    }
    Err(AppError::Conflict(
        "this idempotencyKey was used for a trigger of another meeting".into(),
    ))
}

/// Asks the bot to leave. A bot not yet in the meeting is DONE at once; one in it leaves
/// and its recording still goes through the pipeline.
pub async fn stop(s: &Services, viewer: &Viewer, id: &str) -> AppResult<MeetingBot> {
    viewer.require(Role::Manager)?;
    let bot = store::get(&s.db, viewer, id).await?;
    if bot.status.is_final() {
        return Err(AppError::Conflict(format!(
            "the bot is already {}",
            bot.status.as_str()
        )));
    }
    if bot.status >= BotStatus::Transcribing {
        return Err(AppError::Conflict(
            "the meeting is over; its recording is being processed".into(),
        ));
    }
    if let Some(reference) = remote::bot_ref(&bot) {
        match s.providers.bot_service()?.stop(&reference).await {
            // The service knows no such bot: it has left already, which is what was asked.
            Err(err) if err.status == Some(404) => {
                tracing::info!(bot = %bot.id, error = %err.message, "bot service no longer knows the bot it was asked to stop");
            }
            stopped => stopped?,
        }
    }
    let before_it_joined =
        &Transition::because(format!("stopped by {} before it joined", viewer.user_id));
    decide_on_fresh_reads(s, bot, |bot| async move {
        // In the meeting (it may have joined while the service was asked): it leaves, and its
        // recording comes through the pipeline.
        if bot.status >= BotStatus::Connected {
            return Ok(Some(bot));
        }
        let source = ChangeSource::User;
        let stopped =
            change_status_from(s, &bot, BotStatus::Done, source, before_it_joined).await?;
        if stopped.is_some() {
            remote::tell_late_started_bot_to_leave(s, &bot).await;
        }
        Ok(stopped)
    })
    .await
}

/// Transcribes a recording a person hands over, finds the action items and creates Jira
/// issues for the bot. Only a public address may serve it.
pub async fn process_audio(
    s: &Services,
    viewer: &Viewer,
    bot_id: &str,
    audio_url: &str,
) -> AppResult<MeetingBot> {
    viewer.require(Role::Manager)?;
    let bot = store::get(&s.db, viewer, bot_id).await?;
    pipeline::start(s, &bot, audio_url, ChangeSource::User).await
}

/// The bot service (its secret checked) hands over a bot's recording.
pub async fn recording_handed_over(
    s: &Services,
    bot_id: &str,
    audio_url: &str,
) -> AppResult<MeetingBot> {
    let bot = store::find_for_callback(&s.db, bot_id).await?;
    pipeline::start(s, &bot, audio_url, ChangeSource::Webhook).await
}

/// The bot service's report that it processed the meeting itself (the seed's done callback).
pub struct ProcessedReport {
    pub bot_id: String,
    pub session_id: Option<String>,
    pub result_data: Option<Value>,
}

pub enum ProcessedOutcome {
    /// The bot is DONE with the service's result.
    Done,
    /// Our pipeline is processing the recording and ends the bot with its own issues.
    LeftToPipeline(BotStatus),
}

/// Decided on each fresh read: a recording handed over a moment ago wins.
pub async fn meeting_processed(
    s: &Services,
    report: ProcessedReport,
) -> AppResult<ProcessedOutcome> {
    let bot = store::find_for_callback(&s.db, &report.bot_id).await?;
    let report = &report;
    decide_on_fresh_reads(s, bot, |bot| async move {
        if bot.status >= BotStatus::Transcribing && !bot.status.is_final() {
            tracing::info!(bot = %bot.id, status = bot.status.as_str(), "done callback while the pipeline runs: left to the pipeline");
            return Ok(Some(ProcessedOutcome::LeftToPipeline(bot.status)));
        }
        let transition = Transition {
            session_id: report.session_id.clone().filter(|_| bot.session_id.is_none()),
            result_data: report.result_data.clone(),
            ..Transition::because("the bot service reported the meeting processed")
        };
        let applied =
            change_status_from(s, &bot, BotStatus::Done, ChangeSource::Webhook, &transition)
                .await?;
        Ok(applied.map(|_| ProcessedOutcome::Done))
    })
    .await
}

/// How a bot service's push names its bot.
pub enum PushedBy {
    /// The service's id for the bot and, when given, of its run (Vexa's events).
    ServiceRun,
    /// Our id or the service's (the seed's pushes).
    EitherId,
}

/// A report the bot service pushed (its secret checked): applied as the sync would.
pub async fn report_pushed(s: &Services, remote: RemoteBot, by: PushedBy) -> AppResult<MeetingBot> {
    let bot = match by {
        PushedBy::ServiceRun => {
            store::find_pushed(&s.db, &remote.external_id, remote.session_id.as_deref()).await?
        }
        PushedBy::EitherId => store::find_for_callback(&s.db, &remote.external_id).await?,
    };
    apply_remote(s, &bot, &remote, ChangeSource::Webhook).await;
    store::load(&s.db, &bot.id).await
}
