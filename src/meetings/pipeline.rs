//! From a recording to Jira issues, as one durable job per bot: TRANSCRIBING →
//! ANALYZING_MEETING → CREATING_TASKS → DONE. Each step stores what it produced before the
//! next begins, so a retry picks up where the failure was and never repeats a finished step
//! (no second transcription bill, no duplicate Jira issue).

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{bot, segment};
use super::events::TranscriptSegment;
use super::lifecycle::{self, change_status, decide_on_fresh_reads, Transition};
use super::status::{BotStatus, ChangeSource};
use super::store::{self, MeetingBot};
use crate::error::{AppError, AppResult};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler, NewJob};
use crate::providers::transcription::Segment;
use crate::providers::{public_net, ProviderError};
use crate::services::Services;

pub const KIND: &str = "meetings.pipeline";

#[derive(Serialize, Deserialize)]
struct Payload {
    bot_id: String,
    /// None when the bot service handed over its own transcript, stored with the job.
    #[serde(default)]
    audio_url: Option<String>,
    /// The URL came from a person, not the bot service: only a public address may serve it.
    #[serde(default)]
    public_only: bool,
}

/// Starts (once) the pipeline for a bot's recording: the bot becomes TRANSCRIBING and the job
/// is queued in one transaction. A second call for the same bot returns the bot as it is:
/// the job's unique key makes it run once.
pub async fn start(
    s: &Services,
    bot: &MeetingBot,
    audio_url: &str,
    source: ChangeSource,
) -> AppResult<MeetingBot> {
    // Kept as the parser writes it back: control characters left out or escaped.
    let audio_url = url::Url::parse(audio_url.trim())
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") || (s.config.sandbox && u.scheme() == "sandbox")
        })
        .ok_or_else(|| AppError::BadInput("audioUrl must be an http(s) URL".into()))?;
    let public_only = source == ChangeSource::User && !s.config.meetings.audio_allow_private_hosts;
    if let Some(why) = public_only
        .then(|| public_net::refusal(&audio_url))
        .flatten()
    {
        return Err(AppError::BadInput(format!(
            "audioUrl must be a public address: {why}"
        )));
    }
    let payload = Payload {
        bot_id: bot.id.clone(),
        audio_url: Some(audio_url.to_string()),
        public_only,
    };
    queue(s, payload, Vec::new(), source).await
}

/// Starts (once) the pipeline from a transcript the bot service made itself (Vexa's): the
/// transcript is stored with the job, and the transcription step finds it done.
pub async fn start_from_transcript(
    s: &Services,
    bot: &MeetingBot,
    transcript: Vec<Segment>,
    source: ChangeSource,
) -> AppResult<MeetingBot> {
    let payload = Payload {
        bot_id: bot.id.clone(),
        audio_url: None,
        public_only: false,
    };
    queue(s, payload, transcript, source).await
}

/// The bot becomes TRANSCRIBING, its job is queued and `transcript` (if any) stored, all in
/// one transaction.
async fn queue(
    s: &Services,
    payload: Payload,
    transcript: Vec<Segment>,
    source: ChangeSource,
) -> AppResult<MeetingBot> {
    // Fail now, not three steps in, when a provider the pipeline needs is missing.
    if payload.audio_url.is_some() {
        s.providers.transcriber()?;
    }
    s.providers.llm()?;
    s.providers.tasks()?;
    let bot = store::load(&s.db, &payload.bot_id).await?;
    let (payload, transcript) = (&payload, &transcript);
    let bot_id = decide_on_fresh_reads(s, bot, |bot| async move {
        if bot.status.is_final() {
            return Err(AppError::Conflict(format!(
                "the bot is already {}",
                bot.status.as_str()
            )));
        }
        let job = NewJob::new(KIND, payload)?
            .max_attempts(s.config.meetings.pipeline_max_attempts)
            .unique_key(format!("{KIND}:{}", bot.id));
        let handing_over = bot.status < BotStatus::Transcribing;
        let txn = crate::db::begin(&s.db).await?;
        if let Some(audio_url) = &payload.audio_url {
            bot::Entity::update_many()
                .col_expr(bot::Column::AudioUrl, Expr::value(audio_url.clone()))
                .filter(bot::Column::Id.eq(&bot.id))
                .filter(bot::Column::AudioUrl.is_null())
                .exec(&txn)
                .await?;
        }
        let stored = if handing_over {
            store_transcript(&txn, &bot.id, transcript).await?
        } else {
            Vec::new()
        };
        s.jobs.enqueue_on(&txn, job).await?;
        let change = if handing_over {
            let handed_over = Transition::because(match payload.audio_url {
                Some(_) => "the recording was handed over",
                None => "the bot service's transcript was handed over",
            });
            let written =
                lifecycle::write_change(s, &txn, &bot, BotStatus::Transcribing, source, &handed_over)
                    .await?;
            match written {
                Some((_, change)) => Some(change),
                None => {
                    txn.rollback().await?;
                    return Ok(None);
                }
            }
        } else {
            None
        };
        txn.commit().await?;
        if let Some(change) = change {
            lifecycle::announce(s, change).await;
        }
        for segment in stored {
            s.bus.publish(segment).await;
        }
        s.jobs.wake();
        tracing::info!(bot = %bot.id, source = source.as_str(), "recording handed over; pipeline queued");
        Ok(Some(bot.id))
    })
    .await?;
    store::load(&s.db, &bot_id).await
}

/// Stores a bot's transcript (on a transaction the caller commits); its segments, to be
/// published once committed.
async fn store_transcript<C: sea_orm::ConnectionTrait>(
    conn: &C,
    bot_id: &str,
    segments: &[Segment],
) -> AppResult<Vec<TranscriptSegment>> {
    let mut stored = Vec::with_capacity(segments.len());
    for (index, seg) in segments.iter().enumerate() {
        let row = segment::ActiveModel {
            bot_id: Set(bot_id.to_string()),
            sequence: Set(index as i64 + 1),
            start_secs: Set(seg.start),
            end_secs: Set(seg.end),
            speaker: Set(seg.speaker.clone()),
            text: Set(seg.text.trim().to_string()),
        }
        .insert(conn)
        .await?;
        stored.push(TranscriptSegment::from(row));
    }
    Ok(stored)
}

pub struct Pipeline {
    services: Services,
}

impl Pipeline {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }

    /// Moves the bot forward to `step` unless it is there or past it already (a retry).
    /// `false` if the bot has finished meanwhile (failed by a person or a timeout): the
    /// pipeline then stops where it is.
    async fn enter(&self, bot_id: &str, step: BotStatus, reason: &str) -> Result<bool, JobFailure> {
        let bot = load(&self.services, bot_id).await?;
        if bot.status.is_final() {
            tracing::info!(bot = %bot_id, status = bot.status.as_str(), "the bot finished while its pipeline ran; the pipeline stops");
            return Ok(false);
        }
        if bot.status < step {
            change_status(
                &self.services,
                bot_id,
                step,
                ChangeSource::Pipeline,
                Transition::because(reason),
            )
            .await?;
        }
        Ok(true)
    }

    async fn transcribe(&self, bot_id: &str, payload: &Payload) -> Result<(), JobFailure> {
        let s = &self.services;
        if !store::transcript(&s.db, bot_id, 0).await?.is_empty() {
            return Ok(());
        }
        let Some(audio_url) = &payload.audio_url else {
            return Err(JobFailure::permanent(
                "transcription failed: neither a recording nor a transcript was handed over",
            ));
        };
        let segments = s
            .providers
            .transcriber()?
            .transcribe(audio_url, payload.public_only)
            .await
            .map_err(|err| step_failure(TRANSCRIPTION, err))?;
        if segments.is_empty() {
            return Err(JobFailure::permanent(
                "transcription failed: the recording has no speech",
            ));
        }
        let txn = crate::db::begin(&s.db).await?;
        let stored = store_transcript(&txn, bot_id, &segments).await?;
        txn.commit().await?;
        for segment in stored {
            s.bus.publish(segment).await;
        }
        Ok(())
    }

    async fn finish(&self, bot_id: &str) -> Result<(), JobFailure> {
        let s = &self.services;
        let bot = load(s, bot_id).await?;
        let tasks = store::tasks(&s.db, bot_id).await?;
        let issues: Vec<_> = tasks
            .iter()
            .filter_map(|t| {
                Some(json!({"key": t.jira_key.clone()?, "url": t.jira_url, "summary": t.title}))
            })
            .collect();
        let failed: Vec<_> = tasks
            .iter()
            .filter_map(|t| Some(json!({"summary": t.title, "error": t.error.clone()?})))
            .collect();
        let result = json!({
            "tasks_created": issues.len(),
            "summary": bot.summary,
            "issues": issues,
            "tasks_failed": failed,
        });
        let reason = format!("{} Jira issue(s) created", issues.len());
        change_status(
            s,
            bot_id,
            BotStatus::Done,
            ChangeSource::Pipeline,
            Transition {
                result_data: Some(result),
                ..Transition::because(reason)
            },
        )
        .await?;
        Ok(())
    }
}

pub(super) async fn load(s: &Services, bot_id: &str) -> Result<MeetingBot, JobFailure> {
    bot::Entity::find_by_id(bot_id.to_string())
        .one(&s.db)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| JobFailure::permanent("the bot was deleted"))
}

/// What a person reading the bot's error calls the step a status is.
fn step_name(status: BotStatus) -> Option<&'static str> {
    match status {
        BotStatus::Transcribing => Some(TRANSCRIPTION),
        BotStatus::AnalyzingMeeting => Some(ANALYSIS),
        BotStatus::CreatingTasks => Some(CREATING_TASKS),
        _ => None,
    }
}

const TRANSCRIPTION: &str = "transcription";
pub(super) const ANALYSIS: &str = "meeting analysis";
pub(super) const CREATING_TASKS: &str = "creating Jira tasks";

/// Names the step in the error a person will read on the bot; keeps whether it is worth
/// retrying (a 400 is not, a 503 is).
pub(super) fn step_failure(step: &str, err: ProviderError) -> JobFailure {
    let mut failure = JobFailure::from(err);
    failure.message = format!("{step} failed: {}", failure.message);
    failure
}

#[async_trait]
impl JobHandler for Pipeline {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let payload: Payload = job.payload()?;
        let bot = load(&self.services, &payload.bot_id).await?;
        let steps = [
            (BotStatus::Transcribing, "transcribing the recording"),
            (
                BotStatus::AnalyzingMeeting,
                "finding the summary and action items",
            ),
            (BotStatus::CreatingTasks, "creating Jira issues"),
        ];
        for (step, reason) in steps {
            if !self.enter(&bot.id, step, reason).await? {
                return Ok(());
            }
            match step {
                BotStatus::Transcribing => self.transcribe(&bot.id, &payload).await?,
                BotStatus::AnalyzingMeeting => {
                    super::analysis::analyse(&self.services, &bot.id).await?
                }
                _ => super::issues::create_tasks(&self.services, &bot.id).await?,
            }
        }
        self.finish(&bot.id).await
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        let Ok(payload) = job.payload::<Payload>() else {
            return;
        };
        // A death the step did not describe (a panic, an abandoned run, an internal error)
        // still says which step it ended.
        let step = store::load(&self.services.db, &payload.bot_id)
            .await
            .ok()
            .and_then(|bot| step_name(bot.status));
        let message = match step {
            Some(step) if !error.starts_with(step) => format!("{step} failed: {error}"),
            _ => error.to_string(),
        };
        let result = lifecycle::fail(
            &self.services,
            &payload.bot_id,
            ChangeSource::Pipeline,
            message,
        )
        .await;
        if let Err(err) = result {
            tracing::warn!(bot = %payload.bot_id, error = ?err, "could not mark the bot ERROR after its pipeline died");
        }
    }
}
