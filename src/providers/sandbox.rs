//! Simulated outside services, used only with `--sandbox` (the server says so at start-up and
//! in `health`). They follow the real services' behaviour closely enough that every flow can
//! be watched from GraphiQL with no outside account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;

use super::bot_service::{BotRef, BotService, RemoteBot, RemoteState, StartBot};
use super::jira::{FoundIssue, IssueOutcome, NewIssue, TaskTracker};
use super::llm::{Llm, Speaker, Turn};
use super::transcription::{Segment, Transcriber};
use super::{Messengers, ProviderError, Providers};

pub fn providers() -> Providers {
    Providers {
        bot_service: Some(Arc::new(SandboxBotService::default())),
        llm: Some(Arc::new(SandboxLlm)),
        transcriber: Some(Arc::new(SandboxTranscriber)),
        tasks: Some(Arc::new(SandboxJira::default())),
        messengers: Messengers::sandbox(),
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
