//! Meeting-bot services: the seed's own (`POST /bots/start`, `GET /bots/{id}`) and a
//! Vexa-compatible one (`POST /bots`, `GET /bots/status`, `DELETE /bots/{platform}/{id}`, and
//! `GET /meetings/{id}` for a bot the running list cannot tell about).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::{stream, StreamExt};
use reqwest::Client;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::http::{self, ProviderError};
use super::transcription::Segment;

const SERVICE: &str = "bot service";

/// A bot as the bot service knows it.
#[derive(Debug, Clone)]
pub struct BotRef {
    pub external_id: String,
    pub platform: String,
    pub native_meeting_id: String,
    /// The service's id of this run, when it gave one (Vexa's meeting record id).
    pub session_id: Option<String>,
}

pub struct StartBot {
    pub meet_url: String,
    pub platform: String,
    pub native_meeting_id: String,
    pub bot_name: String,
    /// From the link, for a service that joins by id (Vexa).
    pub passcode: Option<String>,
    pub user_id: String,
    /// Where the service may push status changes.
    pub callback_url: String,
}

/// The bot service's states (Vexa's names; the seed's are mapped onto them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteState {
    Requested,
    Joining,
    AwaitingAdmission,
    Active,
    Completed,
    Failed,
    /// Not in the service's list of running bots: not started yet, or gone.
    Absent,
    Unknown(String),
}

impl RemoteState {
    pub fn parse(value: &str) -> Self {
        match value.to_ascii_lowercase().as_str() {
            "requested" | "initialized" | "created" | "pending" => RemoteState::Requested,
            "joining" | "connecting" | "starting" => RemoteState::Joining,
            "awaiting_admission" | "waiting_room" | "in_waiting_room" => {
                RemoteState::AwaitingAdmission
            }
            "active" | "connected" | "recording" | "in_call" => RemoteState::Active,
            "completed" | "done" | "ended" | "stopped" | "left" => RemoteState::Completed,
            "failed" | "error" => RemoteState::Failed,
            other => RemoteState::Unknown(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RemoteBot {
    pub external_id: String,
    pub state: RemoteState,
    pub session_id: Option<String>,
    /// Why it failed or ended, when the service says.
    pub reason: Option<String>,
    /// Where the recording can be fetched, once there is one.
    pub recording_url: Option<String>,
}

#[async_trait]
pub trait BotService: Send + Sync + 'static {
    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError>;

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError>;

    async fn stop(&self, bot: &BotRef) -> Result<(), ProviderError>;

    /// Whether the recording comes by a callback of its own after the service reports the
    /// meeting over (the seed's `create-tasks-from-audio`), rather than with the report.
    fn hands_recording_over_by_callback(&self) -> bool {
        false
    }

    /// The meeting's transcript, for a service that transcribes itself (Vexa): `None` from
    /// one that does not.
    async fn transcript(&self, _bot: &BotRef) -> Result<Option<Vec<Segment>>, ProviderError> {
        Ok(None)
    }

    /// The state of many bots, each as it comes with its position in `bots`: one request
    /// each, `concurrency` at a time, each failing on its own and given up after
    /// `each_within`. A service that can list its bots answers in one request instead.
    fn statuses<'a>(
        &'a self,
        bots: &'a [BotRef],
        concurrency: usize,
        each_within: Duration,
    ) -> BoxStream<'a, (usize, Result<RemoteBot, ProviderError>)> {
        stream::iter(bots.iter().enumerate())
            .map(move |(position, bot)| async move {
                (position, within(each_within, self.status(bot)).await)
            })
            .buffer_unordered(concurrency.max(1))
            .boxed()
    }
}

/// `request`'s answer, or a failure once `limit` has passed without one.
async fn within<T>(
    limit: Duration,
    request: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    tokio::time::timeout(limit, request)
        .await
        .unwrap_or_else(|_| {
            Err(ProviderError::new(
                SERVICE,
                format!("no answer within {} ms", limit.as_millis()),
            ))
        })
}

fn endpoint(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn with_key(request: reqwest::RequestBuilder, secret: &Option<String>) -> reqwest::RequestBuilder {
    match secret {
        Some(secret) => request.header("X-API-Key", secret),
        None => request,
    }
}

/// The seed's bot service.
pub struct SeedBotService {
    pub client: Client,
    pub base: Url,
    pub secret: Option<String>,
}

#[derive(Deserialize)]
struct SeedBot {
    /// Always in `POST /bots/start`'s answer; `GET /bots/{bot_id}` may leave it out.
    #[serde(default)]
    bot_id: Option<String>,
    status: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default, alias = "error_message")]
    error: Option<String>,
    #[serde(default, alias = "audio_url")]
    recording_url: Option<String>,
}

impl SeedBot {
    /// `asked_for`: the id the request named, for an answer that does not repeat it.
    fn into_remote(self, asked_for: Option<&str>) -> Result<RemoteBot, ProviderError> {
        let external_id = self
            .bot_id
            .or_else(|| asked_for.map(str::to_string))
            .ok_or_else(|| {
                ProviderError::new(SERVICE, "started a bot without saying its bot_id")
            })?;
        Ok(RemoteBot {
            state: RemoteState::parse(&self.status),
            external_id,
            session_id: self.session_id,
            reason: self.error,
            recording_url: self.recording_url,
        })
    }
}

#[async_trait]
impl BotService for SeedBotService {
    fn hands_recording_over_by_callback(&self) -> bool {
        true
    }

    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError> {
        let body = json!({
            "meet_url": request.meet_url,
            "bot_name": request.bot_name,
            "user_id": request.user_id,
            "callback_url": request.callback_url,
        });
        let bot: SeedBot = http::json(
            SERVICE,
            with_key(
                self.client.post(endpoint(&self.base, "bots/start")),
                &self.secret,
            )
            .json(&body),
        )
        .await?;
        bot.into_remote(None)
    }

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        let path = format!("bots/{}", urlencode(&bot.external_id));
        let answer: SeedBot = http::json(
            SERVICE,
            with_key(self.client.get(endpoint(&self.base, &path)), &self.secret),
        )
        .await?;
        answer.into_remote(Some(&bot.external_id))
    }

    async fn stop(&self, bot: &BotRef) -> Result<(), ProviderError> {
        let path = format!("bots/{}", urlencode(&bot.external_id));
        http::send(
            SERVICE,
            with_key(
                self.client.delete(endpoint(&self.base, &path)),
                &self.secret,
            ),
        )
        .await?;
        Ok(())
    }
}

/// A Vexa-compatible bot service: bots are named by platform and native meeting id.
pub struct VexaBotService {
    pub client: Client,
    pub base: Url,
    pub secret: Option<String>,
}

/// A Vexa meeting record, as `POST /bots`, `GET /meetings/{id}` and its webhooks give it.
#[derive(Deserialize)]
pub struct VexaMeeting {
    #[serde(default)]
    id: Option<serde_json::Value>,
    platform: String,
    native_meeting_id: String,
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// Vexa's transcript document: the meeting record with the `segments` its bot transcribed
/// (`start`, `end` in seconds from the meeting's start, `text`, `speaker`).
#[derive(Deserialize)]
struct VexaTranscript {
    #[serde(default)]
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct VexaRunning {
    /// Read one by one: an entry without its meeting (a container Vexa has no record for)
    /// is left out rather than failing the list for every bot.
    #[serde(default)]
    running_bots: Vec<serde_json::Value>,
}

impl VexaMeeting {
    pub fn into_remote(self) -> RemoteBot {
        let data = self.data.unwrap_or_default();
        let text = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_string);
        RemoteBot {
            external_id: format!("{}/{}", self.platform, self.native_meeting_id),
            state: RemoteState::parse(&self.status),
            session_id: self
                .id
                .map(|id| id.to_string().trim_matches('"').to_string()),
            reason: ["failure_reason", "error", "last_error", "completion_reason"]
                .into_iter()
                .find_map(text),
            recording_url: text("recording_url"),
        }
    }
}

#[async_trait]
impl BotService for VexaBotService {
    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError> {
        let mut body = json!({
            "platform": request.platform,
            "native_meeting_id": request.native_meeting_id,
            "bot_name": request.bot_name,
        });
        if let Some(passcode) = &request.passcode {
            body["passcode"] = json!(passcode);
        }
        let meeting: VexaMeeting = http::json(
            SERVICE,
            with_key(self.client.post(endpoint(&self.base, "bots")), &self.secret).json(&body),
        )
        .await?;
        Ok(meeting.into_remote())
    }

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        match self.running().await?.take(bot) {
            Some(listed) => Ok(listed),
            None => self.meeting(bot).await,
        }
    }

    /// `GET /transcripts/{platform}/{native_meeting_id}` (of this run's meeting record, when
    /// known): the segments Vexa made during the meeting.
    async fn transcript(&self, bot: &BotRef) -> Result<Option<Vec<Segment>>, ProviderError> {
        let mut path = format!(
            "transcripts/{}/{}",
            urlencode(&bot.platform),
            urlencode(&bot.native_meeting_id)
        );
        if let Some(record) = bot
            .session_id
            .as_deref()
            .filter(|r| r.parse::<u64>().is_ok())
        {
            path.push_str(&format!("?meeting_id={record}"));
        }
        let request = self.client.get(endpoint(&self.base, &path));
        let answer: VexaTranscript = http::json(SERVICE, with_key(request, &self.secret)).await?;
        Ok(Some(
            answer
                .segments
                .into_iter()
                .filter(|segment| !segment.text.trim().is_empty())
                .collect(),
        ))
    }

    async fn stop(&self, bot: &BotRef) -> Result<(), ProviderError> {
        let path = format!(
            "bots/{}/{}",
            urlencode(&bot.platform),
            urlencode(&bot.native_meeting_id)
        );
        http::send(
            SERVICE,
            with_key(
                self.client.delete(endpoint(&self.base, &path)),
                &self.secret,
            ),
        )
        .await?;
        Ok(())
    }

    /// One `GET /bots/status` answers for every bot listed in a state of its life; the
    /// meeting record answers for the rest, `concurrency` at a time.
    fn statuses<'a>(
        &'a self,
        bots: &'a [BotRef],
        concurrency: usize,
        each_within: Duration,
    ) -> BoxStream<'a, (usize, Result<RemoteBot, ProviderError>)> {
        stream::once(async move {
            let mut running = match within(each_within, self.running()).await {
                Ok(running) => running,
                Err(err) => {
                    let failed = (0..bots.len()).map(move |position| (position, Err(err.clone())));
                    return stream::iter(failed).boxed();
                }
            };
            let (listed, unlisted): (Vec<_>, Vec<_>) = bots
                .iter()
                .enumerate()
                .map(|(position, bot)| (position, bot, running.take(bot)))
                .partition(|(_, _, listed)| listed.is_some());
            let listed = listed
                .into_iter()
                .filter_map(|(position, _, remote)| Some((position, Ok(remote?))));
            let looked_up = stream::iter(unlisted)
                .map(move |(position, bot, _)| async move {
                    (position, within(each_within, self.meeting(bot)).await)
                })
                .buffer_unordered(concurrency.max(1));
            stream::iter(listed).chain(looked_up).boxed()
        })
        .flatten()
        .boxed()
    }
}

impl VexaBotService {
    /// The bot's meeting record (`GET /meetings/{id}`), which outlives the running bot and
    /// says how it ended; a bot with no record id is taken as not running.
    async fn meeting(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        let Some(record) = &bot.session_id else {
            return Ok(RemoteBot {
                external_id: bot.external_id.clone(),
                state: RemoteState::Absent,
                session_id: None,
                reason: None,
                recording_url: None,
            });
        };
        let path = format!("meetings/{}", urlencode(record));
        let meeting: VexaMeeting = http::json(
            SERVICE,
            with_key(self.client.get(endpoint(&self.base, &path)), &self.secret),
        )
        .await?;
        Ok(meeting.into_remote())
    }

    async fn running(&self) -> Result<Running, ProviderError> {
        let listed: VexaRunning = http::json(
            SERVICE,
            with_key(
                self.client.get(endpoint(&self.base, "bots/status")),
                &self.secret,
            ),
        )
        .await?;
        Ok(Running(
            listed
                .running_bots
                .into_iter()
                .filter_map(|entry| serde_json::from_value::<VexaMeeting>(entry).ok())
                .map(|m| m.into_remote())
                .map(|r| (r.external_id.clone(), r))
                .collect(),
        ))
    }
}

/// Vexa's running bots by id.
struct Running(HashMap<String, RemoteBot>);

impl Running {
    /// The bot as listed, when the list names a state of its life: Vexa lists running bots
    /// only, and may give a container's state ("Up 2 minutes") instead.
    fn take(&mut self, bot: &BotRef) -> Option<RemoteBot> {
        self.0
            .remove(&bot.external_id)
            .filter(|listed| !matches!(listed.state, RemoteState::Unknown(_)))
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
