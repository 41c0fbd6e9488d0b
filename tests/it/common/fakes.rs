//! Local fake outside services for the meetings flow, answering with the real shapes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::config::Config;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const BOT_SECRET: &str = "bot-service-secret";

pub struct Fakes {
    pub bots: MockServer,
    pub openai: MockServer,
    pub jira: MockServer,
    pub files: MockServer,
}

impl Fakes {
    pub async fn start() -> Self {
        let fakes = Self {
            bots: MockServer::start().await,
            openai: MockServer::start().await,
            jira: MockServer::start().await,
            files: MockServer::start().await,
        };
        Mock::given(method("GET"))
            .and(path("/recordings/standup.wav"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(vec![7u8; 4096])
                    .insert_header("content-type", "audio/wav"),
            )
            .mount(&fakes.files)
            .await;
        fakes
    }

    pub fn audio_url(&self) -> String {
        format!("{}/recordings/standup.wav", self.files.uri())
    }

    /// Points every provider of `config` at these fakes.
    pub fn configure(&self, config: &mut Config) {
        let p = &mut config.providers;
        p.bot_service_url = Some(self.bots.uri().parse().unwrap());
        p.bot_service_secret = Some(BOT_SECRET.into());
        p.openai_base_url = format!("{}/v1", self.openai.uri()).parse().unwrap();
        p.openai_api_key = Some("sk-test".into());
        p.jira_base_url = Some(self.jira.uri().parse().unwrap());
        p.jira_email = Some("bot@example.com".into());
        p.jira_api_token = Some("jira-token".into());
        p.jira_project_key = Some("OPS".into());
        p.timeout_secs = 5;
    }

    /// The seed bot service: starts every bot as `ext-<n>` and answers `status` for it.
    pub async fn bot_service_starts(&self, external_id: &str) {
        Mock::given(method("POST"))
            .and(path("/bots/start"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"bot_id": external_id, "status": "initialized"})),
            )
            .up_to_n_times(1)
            .mount(&self.bots)
            .await;
    }

    /// From now on the bot service reports `status` (and `extra` fields) for the bot.
    pub async fn bot_reports(&self, external_id: &str, status: &str, extra: Value) {
        let mut body = json!({"bot_id": external_id, "status": status});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        Mock::given(method("GET"))
            .and(path(format!("/bots/{external_id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            // Newest report wins: each is mounted ahead of the ones before it.
            .with_priority(next_priority())
            .mount(&self.bots)
            .await;
    }

    pub async fn transcription_answers(&self) {
        self.transcription_answers_after(Duration::ZERO).await;
    }

    pub async fn transcription_answers_after(&self, delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/v1/audio/transcriptions"))
            .respond_with(ResponseTemplate::new(200).set_delay(delay).set_body_json(json!({
                "task": "transcribe", "language": "english", "duration": 12.0,
                "text": "Boris will fix the tests. Chen will write the notes.",
                "segments": [
                    {"id": 0, "start": 0.0, "end": 5.0, "text": " I will fix the flaky tests.", "speaker": "Boris"},
                    {"id": 1, "start": 5.0, "end": 12.0, "text": " I will write the release notes.", "speaker": "Chen"}
                ]
            })))
            .mount(&self.openai)
            .await;
    }

    pub async fn llm_answers(&self) {
        self.llm_answers_with(json!({
            "summary": "The team agreed on two fixes before the release.",
            "action_items": [
                {"title": "Fix the flaky tests", "description": "Payment tests fail at random.", "assignee": "Boris"},
                {"title": "Write the release notes", "description": "For customers.", "assignee": "Chen"}
            ]
        }))
        .await;
    }

    /// The chat completions API answers with `content` as the assistant's JSON.
    pub async fn llm_answers_with(&self, content: Value) {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content.to_string()}}]
            })))
            .mount(&self.openai)
            .await;
    }

    pub async fn jira_creates(&self) {
        Mock::given(method("POST"))
            .and(path("/rest/api/3/issue/bulk"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "issues": [
                    {"id": "10001", "key": "OPS-1", "self": format!("{}/rest/api/3/issue/10001", self.jira.uri())},
                    {"id": "10002", "key": "OPS-2", "self": format!("{}/rest/api/3/issue/10002", self.jira.uri())}
                ],
                "errors": []
            })))
            .mount(&self.jira)
            .await;
    }

    /// Transcription, LLM and Jira all answer well.
    pub async fn pipeline_succeeds(&self) {
        self.pipeline_succeeds_transcribing_in(Duration::ZERO).await;
    }

    /// As [`Fakes::pipeline_succeeds`], the transcription taking `delay`.
    pub async fn pipeline_succeeds_transcribing_in(&self, delay: Duration) {
        self.transcription_answers_after(delay).await;
        self.llm_answers().await;
        self.jira_creates().await;
    }
}

/// The issues a fake Jira has made, which its search finds by label as Jira's does.
#[derive(Clone, Default)]
pub struct JiraIssues(Arc<Mutex<Vec<MadeIssue>>>);

#[derive(Clone, Debug)]
pub struct MadeIssue {
    pub key: String,
    pub summary: String,
    pub labels: Vec<String>,
}

impl JiraIssues {
    /// Makes every issue of a bulk request: the body Jira answers it with.
    pub fn make(&self, request: &wiremock::Request) -> Value {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut made = self.0.lock().unwrap();
        let updates = body["issueUpdates"].as_array().cloned().unwrap_or_default();
        let issues: Vec<Value> = updates
            .iter()
            .map(|update| {
                let n = 10_000 + made.len() + 1;
                let key = format!("OPS-{}", made.len() + 1);
                let labels = update["fields"]["labels"].as_array().cloned().unwrap_or_default();
                made.push(MadeIssue {
                    key: key.clone(),
                    summary: update["fields"]["summary"].as_str().unwrap_or_default().into(),
                    labels: labels.iter().filter_map(|l| Some(l.as_str()?.to_string())).collect(),
                });
                json!({"id": n.to_string(), "key": key, "self": format!("https://jira.invalid/rest/api/3/issue/{n}")})
            })
            .collect();
        json!({"issues": issues, "errors": []})
    }

    pub fn all(&self) -> Vec<MadeIssue> {
        self.0.lock().unwrap().clone()
    }

    /// A JQL search's answer: the issues whose labels hold the one `labels = "…"` names. The
    /// last page carries no `nextPageToken`, as Jira Cloud's does.
    fn search(&self, request: &wiremock::Request) -> Value {
        let jql = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "jql")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let label = jql
            .split("labels = \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_string();
        let issues: Vec<Value> = self
            .all()
            .into_iter()
            .filter(|issue| issue.labels.contains(&label))
            .map(|issue| json!({"id": "1", "key": issue.key, "fields": {"summary": issue.summary}}))
            .collect();
        json!({"issues": issues, "isLast": true})
    }
}

impl Fakes {
    /// Jira makes every issue it is sent, and its search finds them.
    pub async fn jira_serves(&self, issues: &JiraIssues) {
        let made = issues.clone();
        Mock::given(method("POST"))
            .and(path("/rest/api/3/issue/bulk"))
            .respond_with(move |request: &wiremock::Request| {
                ResponseTemplate::new(201).set_body_json(made.make(request))
            })
            .mount(&self.jira)
            .await;
        let found = issues.clone();
        Mock::given(method("GET"))
            .and(path("/rest/api/3/search/jql"))
            .respond_with(move |request: &wiremock::Request| {
                ResponseTemplate::new(200).set_body_json(found.search(request))
            })
            .mount(&self.jira)
            .await;
    }
}

fn next_priority() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(200);
    NEXT.fetch_sub(1, Ordering::SeqCst).max(1)
}
