//! What a Vexa client following a meeting receives (seed 001): `meeting.status` under Vexa's
//! status names, `transcript.finalized` with Vexa's segment fields, and `meeting.pipeline` for
//! the steps after the call that Vexa does not have (its clients ignore unknown types). Read
//! from the bot's two timelines through `events::follow`, so the rules of every subscription
//! hold: the current state first, then each change once and in order, gaps and lost
//! announcements filled from the database.

use chrono::{DateTime, Utc};
use futures_util::stream::{select_with_strategy, PollNext};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

use super::events::{BotStatusChange, TranscriptSegment};
use super::status::BotStatus;
use super::store::{self, MeetingBot, MeetingTask};
use super::timelines::{StatusTimeline, TranscriptTimeline};
use crate::error::AppResult;
use crate::events::follow;
use crate::services::Services;

/// Vexa's name for a status. The pipeline's steps have none: for a Vexa client the meeting is
/// `active` until its transcript, summary and issues are done, and then `completed`.
fn vexa_status(status: BotStatus) -> Option<&'static str> {
    match status {
        BotStatus::Initialized => Some("requested"),
        BotStatus::Connecting => Some("joining"),
        BotStatus::AwaitingAdmission => Some("awaiting_admission"),
        BotStatus::Connected => Some("active"),
        BotStatus::Transcribing | BotStatus::AnalyzingMeeting | BotStatus::CreatingTasks => None,
        BotStatus::Done => Some("completed"),
        BotStatus::Error => Some("failed"),
    }
}

/// The pipeline's step a status is, for `meeting.pipeline`.
fn pipeline_step(status: BotStatus) -> Option<&'static str> {
    match status {
        BotStatus::Transcribing => Some("transcribing"),
        BotStatus::AnalyzingMeeting => Some("analyzing"),
        BotStatus::CreatingTasks => Some("creating_tasks"),
        BotStatus::Done => Some("done"),
        _ => None,
    }
}

/// Turns one bot's status changes and segments into Vexa's messages, remembering what the
/// client has been told so that each Vexa status goes out once.
pub(super) struct Translator {
    meeting: Value,
    announced: Option<&'static str>,
    /// When the recording began (the bot's arrival in the call): segments' times count from it.
    recording_start: Option<DateTime<Utc>>,
}

impl Translator {
    pub(super) fn new(bot: &MeetingBot) -> Self {
        Self {
            meeting: json!({
                "platform": bot.platform.as_str(),
                "native_id": bot.native_meeting_id,
                "bot_id": bot.id,
            }),
            announced: None,
            recording_start: None,
        }
    }

    /// The messages a status change makes: its Vexa status unless that was already sent, and
    /// the pipeline's step. A client arriving during the pipeline is first told the status in
    /// force (`active`). `tasks` are the bot's, read once it is DONE.
    fn status(&mut self, change: &BotStatusChange, tasks: &[MeetingTask]) -> Vec<String> {
        let mut messages = Vec::new();
        let status =
            vexa_status(change.status).or_else(|| self.announced.is_none().then_some("active"));
        if let Some(status) = status.filter(|status| self.announced != Some(*status)) {
            self.announced = Some(status);
            let mut payload = json!({
                "status": status,
                "bot_id": change.bot_id.as_str(),
                "sequence": change.sequence,
                "at": change.at,
            });
            if change.status == BotStatus::Error {
                payload["error"] = json!(change.reason.as_deref().unwrap_or("the bot failed"));
            }
            messages.push(self.message("meeting.status", payload, change.at));
        }
        if let Some(step) = pipeline_step(change.status) {
            let mut payload = json!({
                "step": step,
                "bot_id": change.bot_id.as_str(),
                "sequence": change.sequence,
                "at": change.at,
            });
            if change.status == BotStatus::Done {
                let issues: Vec<Value> = tasks
                    .iter()
                    .filter_map(|task| {
                        let key = task.jira_key.as_ref()?;
                        Some(json!({"key": key, "url": task.jira_url, "title": task.title}))
                    })
                    .collect();
                payload["issues"] = Value::Array(issues);
            }
            messages.push(self.message("meeting.pipeline", payload, change.at));
        }
        messages
    }

    /// A finalized segment with Vexa's fields; times relative to the recording's start, and
    /// absolute from when the bot came into the call. (No language is recorded per segment.)
    fn segment(&self, segment: &TranscriptSegment, now: DateTime<Utc>) -> String {
        // A provider's times are not trusted to be sane: none rather than a panic.
        let absolute = |secs: f64| {
            let offset = (secs.is_finite() && secs.abs() < 1e9)
                .then(|| chrono::Duration::milliseconds((secs * 1000.0) as i64))?;
            self.recording_start?.checked_add_signed(offset)
        };
        let payload = json!({
            "segments": [{
                "start": segment.start,
                "end": segment.end,
                "text": segment.text,
                "speaker": segment.speaker,
                "language": null,
                "absolute_start_time": absolute(segment.start),
                "absolute_end_time": absolute(segment.end),
                "sequence": segment.sequence,
            }]
        });
        self.message("transcript.finalized", payload, now)
    }

    fn message(&self, kind: &str, payload: Value, ts: DateTime<Utc>) -> String {
        json!({"type": kind, "meeting": self.meeting, "payload": payload, "ts": ts}).to_string()
    }
}

enum Update {
    Status(AppResult<BotStatusChange>),
    Segment(AppResult<TranscriptSegment>),
}

/// Everything a Vexa client following `bot` receives, serialized, until the bot is finished
/// and its transcript complete. Pulled only as fast as the client reads: a slow reader's
/// followers fall behind and catch up from the database, they do not queue.
pub(super) fn feed(services: Services, bot: MeetingBot) -> impl Stream<Item = AppResult<String>> {
    async_stream::try_stream! {
        let recheck = services.config.events.recheck();
        let statuses = follow(
            services.bus.clone(),
            StatusTimeline::new(&services, bot.id.clone()),
            None,
            recheck,
        )
        .map(Update::Status);
        let segments = follow(
            services.bus.clone(),
            TranscriptTimeline::new(&services, bot.id.clone()),
            None,
            recheck,
        )
        .map(Update::Segment);
        // Segments first when both are ready: a transcript stored before the pipeline moved
        // on reaches the client before the status that says so.
        let mut updates = std::pin::pin!(select_with_strategy(segments, statuses, |_: &mut ()| {
            PollNext::Left
        }));
        let mut translator = Translator::new(&bot);
        while let Some(update) = updates.next().await {
            match update {
                Update::Status(change) => {
                    let change = change?;
                    let tasks = if change.status == BotStatus::Done {
                        store::tasks(&services.db, &bot.id).await?
                    } else {
                        Vec::new()
                    };
                    for message in translator.status(&change, &tasks) {
                        yield message;
                    }
                }
                Update::Segment(segment) => {
                    let segment = segment?;
                    if translator.recording_start.is_none() {
                        translator.recording_start = Some(recording_start(&services, &bot).await?);
                    }
                    yield translator.segment(&segment, services.clock.now());
                }
            }
        }
    }
}

/// When the bot came into the call (its first CONNECTED), or was created if it never did (a
/// recording handed over directly).
async fn recording_start(services: &Services, bot: &MeetingBot) -> AppResult<DateTime<Utc>> {
    Ok(store::history(&services.db, &bot.id, 0)
        .await?
        .into_iter()
        .find(|change| change.status == BotStatus::Connected)
        .map_or(bot.created_at, |change| change.at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meetings::{ChangeSource, MeetingPlatform};

    fn bot() -> MeetingBot {
        let at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        MeetingBot {
            id: "bot-1".into(),
            org_id: "acme".into(),
            user_id: "ann".into(),
            meet_url: "https://meet.google.com/abc-defg-hij".into(),
            platform: MeetingPlatform::GoogleMeet,
            native_meeting_id: "abc-defg-hij".into(),
            bot_name: "Scribe".into(),
            status: BotStatus::Initialized,
            sequence: 1,
            external_bot_id: None,
            session_id: None,
            error_message: None,
            result_data: None,
            audio_url: None,
            summary: None,
            idempotency_key: None,
            active_key: None,
            remote_ended_at: None,
            status_changed_at: at,
            created_at: at,
            updated_at: at,
        }
    }

    fn change(sequence: i64, status: BotStatus) -> BotStatusChange {
        BotStatusChange {
            bot_id: async_graphql::ID("bot-1".into()),
            sequence,
            status,
            source: ChangeSource::Sync,
            reason: (status == BotStatus::Error).then(|| "admission timed out".into()),
            at: bot().created_at + chrono::Duration::seconds(sequence),
        }
    }

    fn kinds_and_names(messages: &[String]) -> Vec<(String, String)> {
        messages
            .iter()
            .map(|text| {
                let message: Value = serde_json::from_str(text).unwrap();
                let payload = &message["payload"];
                let name = payload["status"].as_str().or(payload["step"].as_str());
                (
                    message["type"].as_str().unwrap().to_string(),
                    name.unwrap().to_string(),
                )
            })
            .collect()
    }

    fn walk(translator: &mut Translator, statuses: &[BotStatus]) -> Vec<(String, String)> {
        let messages: Vec<String> = statuses
            .iter()
            .enumerate()
            .flat_map(|(i, status)| translator.status(&change(i as i64 + 1, *status), &[]))
            .collect();
        kinds_and_names(&messages)
    }

    #[test]
    fn a_whole_meeting_reads_as_vexa_statuses_with_the_pipeline_alongside() {
        use BotStatus::*;
        let seen = walk(
            &mut Translator::new(&bot()),
            &[
                Initialized,
                Connecting,
                AwaitingAdmission,
                Connected,
                Transcribing,
                AnalyzingMeeting,
                CreatingTasks,
                Done,
            ],
        );
        let status = |name: &str| ("meeting.status".to_string(), name.to_string());
        let step = |name: &str| ("meeting.pipeline".to_string(), name.to_string());
        assert_eq!(
            seen,
            vec![
                status("requested"),
                status("joining"),
                status("awaiting_admission"),
                status("active"),
                step("transcribing"),
                step("analyzing"),
                step("creating_tasks"),
                status("completed"),
                step("done"),
            ]
        );
    }

    #[test]
    fn a_client_arriving_during_the_pipeline_is_told_the_meeting_is_active_first() {
        let mut translator = Translator::new(&bot());
        let seen = walk(&mut translator, &[BotStatus::AnalyzingMeeting]);
        assert_eq!(
            seen,
            vec![
                ("meeting.status".into(), "active".into()),
                ("meeting.pipeline".into(), "analyzing".into())
            ]
        );
    }

    #[test]
    fn a_failure_carries_its_error_and_done_carries_the_jira_issues() {
        let mut translator = Translator::new(&bot());
        let failed = translator.status(&change(2, BotStatus::Error), &[]);
        let failed: Value = serde_json::from_str(&failed[0]).unwrap();
        assert_eq!(failed["payload"]["status"], "failed");
        assert_eq!(failed["payload"]["error"], "admission timed out");
        assert_eq!(failed["meeting"]["native_id"], "abc-defg-hij");
        assert_eq!(failed["meeting"]["platform"], "google_meet");

        let at = bot().created_at;
        let task = |key: Option<&str>| MeetingTask {
            id: "t".into(),
            bot_id: "bot-1".into(),
            position: 0,
            title: "Send the deck".into(),
            description: String::new(),
            assignee: None,
            jira_key: key.map(Into::into),
            jira_url: key.map(|key| format!("https://jira.example/browse/{key}")),
            error: key.is_none().then(|| "Jira refused".into()),
            created_at: at,
            jira_requested_at: None,
        };
        let done = Translator::new(&bot()).status(
            &change(8, BotStatus::Done),
            &[task(Some("OPS-7")), task(None)],
        );
        let step: Value = serde_json::from_str(&done[1]).unwrap();
        assert_eq!(
            step["payload"]["issues"],
            json!([{"key": "OPS-7", "url": "https://jira.example/browse/OPS-7", "title": "Send the deck"}])
        );
    }

    #[test]
    fn segments_count_their_absolute_time_from_the_bots_arrival_in_the_call() {
        let mut translator = Translator::new(&bot());
        translator.recording_start = Some(bot().created_at);
        let segment = TranscriptSegment {
            bot_id: async_graphql::ID("bot-1".into()),
            sequence: 3,
            start: 61.5,
            end: 64.0,
            speaker: Some("Anna".into()),
            text: "I'll send the deck".into(),
        };
        let message: Value =
            serde_json::from_str(&translator.segment(&segment, bot().created_at)).unwrap();
        assert_eq!(message["type"], "transcript.finalized");
        let sent = &message["payload"]["segments"][0];
        assert_eq!(sent["absolute_start_time"], "2026-12-05T10:01:01.500Z");
        assert_eq!(sent["absolute_end_time"], "2026-12-05T10:01:04Z");
        assert_eq!(sent["speaker"], "Anna");
        assert_eq!(sent["start"], 61.5);
    }

    #[test]
    fn a_segment_with_absurd_times_gets_no_absolute_time_rather_than_a_panic() {
        let mut translator = Translator::new(&bot());
        translator.recording_start = Some(bot().created_at);
        let segment = TranscriptSegment {
            bot_id: async_graphql::ID("bot-1".into()),
            sequence: 1,
            start: f64::INFINITY,
            end: 1e300,
            speaker: None,
            text: "…".into(),
        };
        let message: Value =
            serde_json::from_str(&translator.segment(&segment, bot().created_at)).unwrap();
        let sent = &message["payload"]["segments"][0];
        assert!(sent["absolute_start_time"].is_null() && sent["absolute_end_time"].is_null());
    }
}
