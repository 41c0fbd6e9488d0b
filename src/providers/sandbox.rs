//! Simulated outside services, used only with `--sandbox` (the server says so at start-up and
//! in `health`). They follow the real services' behaviour closely enough that every flow can
//! be watched from GraphiQL with no outside account.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::{StreamExt, TryStreamExt};
use serde_json::json;
use url::Url;

use super::animator::{
    self, AnimationOrder, Animator, AnimatorKind, Animators, ByteStream, RemoteState as Animation,
};
use super::bot_service::{BotRef, BotService, RemoteBot, RemoteState, StartBot};
use super::jira::{FoundIssue, IssueOutcome, NewIssue, TaskTracker};
use super::llm::{Llm, Speaker, Turn};
use super::transcription::{Segment, Transcriber};
use super::{Messengers, ProviderError, Providers};

pub fn providers(config: &crate::config::Config) -> Providers {
    let animator = |kind| {
        Some(Arc::new(SandboxAnimator::new(
            kind,
            config.meetings.ffmpeg_path.clone(),
        )) as Arc<dyn Animator>)
    };
    Providers {
        bot_service: Some(Arc::new(SandboxBotService::default())),
        llm: Some(Arc::new(SandboxLlm)),
        transcriber: Some(Arc::new(SandboxTranscriber)),
        tasks: Some(Arc::new(SandboxJira::default())),
        messengers: Messengers::sandbox(),
        animators: Animators {
            did: animator(AnimatorKind::DId),
            heygen: animator(AnimatorKind::HeyGen),
            default: animator::default_kind(config.providers.use_heygen),
        },
        chat_defaults: None,
        sandbox: true,
    }
}

/// How long a simulated bot spends in each state: starting, joining, in the waiting room,
/// in the meeting. Then the meeting ends and the recording is handed over.
const TIMELINE: [(RemoteState, u64); 4] = [
    (RemoteState::Requested, 2),
    (RemoteState::Joining, 3),
    (RemoteState::AwaitingAdmission, 4),
    (RemoteState::Active, 8),
];

#[derive(Default)]
pub struct SandboxBotService {
    started: Mutex<HashMap<String, (Instant, bool)>>,
}

impl SandboxBotService {
    fn state_at(elapsed: Duration, stopped: bool) -> RemoteState {
        let mut at = 0;
        for (state, secs) in TIMELINE {
            at += secs;
            if elapsed < Duration::from_secs(at) && !(stopped && state == RemoteState::Active) {
                return state;
            }
        }
        RemoteState::Completed
    }
}

#[async_trait]
impl BotService for SandboxBotService {
    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError> {
        let id = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), (Instant::now(), false));
        tracing::info!(bot = %id, meeting = %request.native_meeting_id, "sandbox bot service: simulated bot started");
        Ok(RemoteBot {
            external_id: id.clone(),
            state: RemoteState::Requested,
            session_id: Some(format!("session-{id}")),
            reason: None,
            recording_url: None,
        })
    }

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        let started = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&bot.external_id)
            .copied();
        let Some((at, stopped)) = started else {
            return Err(ProviderError {
                status: Some(404),
                ..ProviderError::new("sandbox bot service", "no such bot")
            });
        };
        let state = Self::state_at(at.elapsed(), stopped);
        let recording_url = (state == RemoteState::Completed)
            .then(|| format!("sandbox://recordings/{}.wav", bot.external_id));
        Ok(RemoteBot {
            external_id: bot.external_id.clone(),
            state,
            session_id: None,
            reason: None,
            recording_url,
        })
    }

    async fn stop(&self, bot: &BotRef) -> Result<(), ProviderError> {
        if let Some(entry) = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&bot.external_id)
        {
            entry.1 = true;
        }
        Ok(())
    }
}

pub struct SandboxTranscriber;

const SAMPLE_MEETING: [(&str, &str); 5] = [
    (
        "Anna",
        "Thanks for joining. The release slipped because the payment tests are flaky.",
    ),
    ("Boris", "I will fix the flaky payment tests by Thursday."),
    ("Anna", "Good. We also need release notes for customers."),
    (
        "Chen",
        "I will write the customer release notes and send them for review.",
    ),
    (
        "Anna",
        "Let's meet again on Friday to confirm the new date.",
    ),
];

#[async_trait]
impl Transcriber for SandboxTranscriber {
    async fn transcribe(
        &self,
        _audio_url: &str,
        _public_only: bool,
    ) -> Result<Vec<Segment>, ProviderError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(SAMPLE_MEETING
            .iter()
            .enumerate()
            .map(|(i, (speaker, text))| Segment {
                start: i as f64 * 6.0,
                end: i as f64 * 6.0 + 5.5,
                text: text.to_string(),
                speaker: Some(speaker.to_string()),
            })
            .collect())
    }
}

/// Reads the transcript it is given: every line where someone says "I will" becomes an
/// action item assigned to them.
pub struct SandboxLlm;

#[async_trait]
impl Llm for SandboxLlm {
    /// Translations come back as they went (nothing here knows languages); anything else is
    /// answered with a reply that quotes the customer's last message.
    async fn chat(&self, turns: &[Turn]) -> Result<String, ProviderError> {
        let last = turns
            .iter()
            .rev()
            .find(|turn| turn.role == Speaker::User)
            .map(|turn| turn.content.as_str())
            .unwrap_or_default();
        let translating = turns.first().is_some_and(|turn| {
            turn.content
                .starts_with(super::llm::TRANSLATION_PROMPT_START)
        });
        if translating {
            return Ok(last.to_string());
        }
        Ok(format!(
            "Thank you for your message! This is the sandbox agent answering: \"{last}\""
        ))
    }

    async fn complete_json(
        &self,
        _system: &str,
        user: &str,
    ) -> Result<serde_json::Value, ProviderError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let items: Vec<_> = user
            .lines()
            .filter_map(|line| {
                let (speaker, text) = line.split_once(": ")?;
                let speaker = speaker.rsplit("] ").next().unwrap_or(speaker);
                let promise = text.split_once("I will ")?.1;
                let title = promise.trim_end_matches('.');
                Some(json!({"title": capitalise(title), "description": text, "assignee": speaker}))
            })
            .collect();
        Ok(json!({
            "summary": format!("Simulated summary of a {}-line meeting.", user.lines().count()),
            "action_items": items,
        }))
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A simulated Jira that remembers what it made, by label, so that a search finds it as
/// Jira's would.
#[derive(Default)]
pub struct SandboxJira {
    made: Mutex<Vec<(String, FoundIssue)>>,
}

#[async_trait]
impl TaskTracker for SandboxJira {
    fn batch_limit(&self) -> usize {
        super::jira::BULK_LIMIT
    }

    async fn create_issues(&self, issues: &[NewIssue]) -> Result<Vec<IssueOutcome>, ProviderError> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        Ok(issues
            .iter()
            .map(|issue| {
                let key = format!("SANDBOX-{}", made.len() + 1);
                let url = format!("https://sandbox.invalid/browse/{key}");
                let found = FoundIssue {
                    key: key.clone(),
                    url: url.clone(),
                    summary: issue.summary.clone(),
                };
                made.push((issue.label.clone(), found));
                IssueOutcome::Created { url, key }
            })
            .collect())
    }

    async fn find_issues(&self, label: &str) -> Result<Vec<FoundIssue>, ProviderError> {
        let made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        Ok(made
            .iter()
            .filter(|(made_for, _)| made_for == label)
            .map(|(_, found)| found.clone())
            .collect())
    }
}

/// How long a simulated animation takes.
const ANIMATION_TIME: Duration = Duration::from_secs(3);
/// How long ffmpeg may take to make a simulated video (it takes well under a second).
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(60);

/// Animates photos "in simulation", as D-ID or HeyGen: an animation is pending for a few
/// seconds, then done, and its video is a test pattern with a tone that ffmpeg makes on the
/// spot, so the whole flow (download, storage, thumbnails) runs on a real file.
pub struct SandboxAnimator {
    kind: AnimatorKind,
    ffmpeg: PathBuf,
    started: Mutex<HashMap<String, Instant>>,
}

impl SandboxAnimator {
    pub fn new(kind: AnimatorKind, ffmpeg: PathBuf) -> Self {
        Self {
            kind,
            ffmpeg,
            started: Mutex::default(),
        }
    }

    fn service(&self) -> &'static str {
        match self.kind {
            AnimatorKind::DId => "sandbox D-ID",
            AnimatorKind::HeyGen => "sandbox HeyGen",
        }
    }

    /// A 3-second 320x240 video with sound, made into `path`.
    async fn make_video(&self, path: &std::path::Path) -> Result<(), ProviderError> {
        let child = tokio::process::Command::new(&self.ffmpeg)
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440"])
            .args([
                "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
            ])
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                ProviderError::refused(
                    self.service(),
                    format!("could not run ffmpeg ({}): {err}", self.ffmpeg.display()),
                )
            })?;
        let output = tokio::time::timeout(FFMPEG_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| ProviderError::new(self.service(), "ffmpeg took too long"))?
            .map_err(|err| ProviderError::new(self.service(), format!("ffmpeg failed: {err}")))?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            tracing::warn!(ffmpeg = %said.trim(), "ffmpeg could not make a sandbox video");
            return Err(ProviderError::refused(
                self.service(),
                "ffmpeg could not make the simulated video",
            ));
        }
        Ok(())
    }
}

/// A file removed when the last thing holding it is dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[async_trait]
impl Animator for SandboxAnimator {
    fn kind(&self) -> AnimatorKind {
        self.kind
    }

    async fn start(&self, order: AnimationOrder<'_>) -> Result<String, ProviderError> {
        let id = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Instant::now());
        tracing::info!(
            animation = %id,
            photo_bytes = order.photo.bytes.len(),
            script_chars = order.script.chars().count(),
            "{}: simulated animation started; nothing is sent to {}",
            self.service(),
            self.kind.service()
        );
        Ok(id)
    }

    async fn state(&self, remote_id: &str) -> Result<Animation, ProviderError> {
        let started = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(remote_id)
            .copied();
        let ours = remote_id
            .strip_prefix("sandbox-")
            .is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()));
        if !ours {
            return Err(ProviderError {
                status: Some(404),
                ..ProviderError::new(self.service(), "no such animation")
            });
        }
        // Unknown but ours: started before this process did, and long done.
        if started.is_some_and(|at| at.elapsed() < ANIMATION_TIME) {
            return Ok(Animation::Pending);
        }
        let video_url = Url::parse(&format!("sandbox://animations/{remote_id}.mp4"))
            .map_err(|_| ProviderError::new(self.service(), "could not name the video"))?;
        Ok(Animation::Done { video_url })
    }

    async fn download(&self, video_url: &Url) -> Result<ByteStream, ProviderError> {
        if video_url.scheme() != "sandbox" {
            return Err(ProviderError::refused(
                self.service(),
                "the sandbox serves only sandbox:// videos",
            ));
        }
        let file = TempFile(std::env::temp_dir().join(format!(
            "switchboard-sandbox-{}.mp4",
            uuid::Uuid::new_v4().simple()
        )));
        self.make_video(&file.0).await?;
        let opened = tokio::fs::File::open(&file.0).await.map_err(|err| {
            ProviderError::new(
                self.service(),
                format!("could not read the simulated video: {err}"),
            )
        })?;
        tracing::info!(video = %video_url, "{}: serving a simulated video", self.service());
        let service = self.service();
        Ok(tokio_util::io::ReaderStream::new(opened)
            .map_err(move |err| {
                ProviderError::new(
                    service,
                    format!("could not read the simulated video: {err}"),
                )
            })
            // The file goes when the stream does.
            .map(move |chunk| {
                let _kept = &file;
                chunk
            })
            .boxed())
    }

    fn callback_remote_id(&self, body: &serde_json::Value) -> Option<String> {
        let id = match self.kind {
            AnimatorKind::DId => &body["id"],
            AnimatorKind::HeyGen => &body["event_data"]["video_id"],
        };
        id.as_str().filter(|id| !id.is_empty()).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_bot_walks_through_admission_to_completion() {
        let at = |secs| SandboxBotService::state_at(Duration::from_secs(secs), false);
        assert_eq!(at(0), RemoteState::Requested);
        assert_eq!(at(3), RemoteState::Joining);
        assert_eq!(at(6), RemoteState::AwaitingAdmission);
        assert_eq!(at(10), RemoteState::Active);
        assert_eq!(at(20), RemoteState::Completed);
        assert_eq!(
            SandboxBotService::state_at(Duration::from_secs(10), true),
            RemoteState::Completed
        );
    }

    #[tokio::test]
    async fn the_simulated_llm_finds_each_promise_in_the_transcript() {
        let transcript = "[0.0] Boris: I will fix the tests.\n[6.0] Anna: Good.";
        let answer = SandboxLlm.complete_json("", transcript).await.unwrap();
        assert_eq!(answer["action_items"][0]["title"], "Fix the tests");
        assert_eq!(answer["action_items"][0]["assignee"], "Boris");
        assert_eq!(answer["action_items"].as_array().unwrap().len(), 1);
    }
}
