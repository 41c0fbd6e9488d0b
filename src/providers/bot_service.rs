//! Meeting-bot services: the seed's own (`POST /bots/start`, `GET /bots/{id}`) and a
//! Vexa-compatible one (`POST /bots`, `GET /bots/status`, `DELETE /bots/{platform}/{id}`).

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

const SERVICE: &str = "bot service";

/// A bot as the bot service knows it.
#[derive(Debug, Clone)]
pub struct BotRef {
    pub external_id: String,
    pub platform: String,
    pub native_meeting_id: String,
}

pub struct StartBot {
    pub meet_url: String,
    pub platform: String,
    pub native_meeting_id: String,
    pub bot_name: String,
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
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Where the recording can be fetched, once there is one.
    pub recording_url: Option<String>,
}

#[async_trait]
pub trait BotService: Send + Sync + 'static {
    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError>;

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError>;

    async fn stop(&self, bot: &BotRef) -> Result<(), ProviderError>;

    /// The state of many bots, each as it comes: one request each, `concurrency` at a time,
    /// each failing on its own and given up after `each_within`. A service that can list its
    /// bots answers in one request instead.
    fn statuses<'a>(
        &'a self,
        bots: &'a [BotRef],
        concurrency: usize,
        each_within: Duration,
    ) -> BoxStream<'a, (String, Result<RemoteBot, ProviderError>)> {
        stream::iter(bots)
            .map(move |bot| async move {
                let result = within(each_within, self.status(bot)).await;
                (bot.external_id.clone(), result)
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
    bot_id: String,
    status: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default, alias = "error_message")]
    error: Option<String>,
    #[serde(default, alias = "audio_url")]
    recording_url: Option<String>,
}

impl From<SeedBot> for RemoteBot {
    fn from(bot: SeedBot) -> Self {
        RemoteBot {
            state: RemoteState::parse(&bot.status),
            external_id: bot.bot_id,
            session_id: bot.session_id,
            reason: bot.error,
            recording_url: bot.recording_url,
        }
    }
}

#[async_trait]
impl BotService for SeedBotService {
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
        Ok(bot.into())
    }

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        let path = format!("bots/{}", urlencode(&bot.external_id));
        let answer: SeedBot = http::json(
            SERVICE,
            with_key(self.client.get(endpoint(&self.base, &path)), &self.secret),
        )
        .await?;
        Ok(answer.into())
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

#[derive(Deserialize)]
struct VexaMeeting {
    #[serde(default)]
    id: Option<serde_json::Value>,
    platform: String,
    native_meeting_id: String,
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct VexaRunning {
    #[serde(default)]
    running_bots: Vec<VexaMeeting>,
}

impl VexaMeeting {
    fn into_remote(self) -> RemoteBot {
        let data = self.data.unwrap_or_default();
        let text = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_string);
        RemoteBot {
            external_id: format!("{}/{}", self.platform, self.native_meeting_id),
            state: RemoteState::parse(&self.status),
            session_id: self
                .id
                .map(|id| id.to_string().trim_matches('"').to_string()),
            reason: text("failure_reason").or_else(|| text("error")),
            recording_url: text("recording_url"),
        }
    }
}

#[async_trait]
impl BotService for VexaBotService {
    async fn start(&self, request: &StartBot) -> Result<RemoteBot, ProviderError> {
        let body = json!({
            "platform": request.platform,
            "native_meeting_id": request.native_meeting_id,
            "bot_name": request.bot_name,
        });
        let meeting: VexaMeeting = http::json(
            SERVICE,
            with_key(self.client.post(endpoint(&self.base, "bots")), &self.secret).json(&body),
        )
        .await?;
        Ok(meeting.into_remote())
    }

    async fn status(&self, bot: &BotRef) -> Result<RemoteBot, ProviderError> {
        Ok(self.running().await?.take(bot))
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

    /// One `GET /bots/status` answers for every running bot.
    fn statuses<'a>(
        &'a self,
        bots: &'a [BotRef],
        _concurrency: usize,
        each_within: Duration,
    ) -> BoxStream<'a, (String, Result<RemoteBot, ProviderError>)> {
        stream::once(async move {
            let answers: Vec<_> = match within(each_within, self.running()).await {
                Err(err) => bots
                    .iter()
                    .map(|b| (b.external_id.clone(), Err(err.clone())))
                    .collect(),
                Ok(mut running) => bots
                    .iter()
                    .map(|bot| (bot.external_id.clone(), Ok(running.take(bot))))
                    .collect(),
            };
            stream::iter(answers)
        })
        .flatten()
        .boxed()
    }
}

impl VexaBotService {
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
                .map(|m| m.into_remote())
                .map(|r| (r.external_id.clone(), r))
                .collect(),
        ))
    }
}

/// Vexa's running bots by id.
struct Running(HashMap<String, RemoteBot>);

impl Running {
    /// The bot as listed, or absent: Vexa lists running bots only.
    fn take(&mut self, bot: &BotRef) -> RemoteBot {
        self.0.remove(&bot.external_id).unwrap_or(RemoteBot {
            external_id: bot.external_id.clone(),
            state: RemoteState::Absent,
            session_id: None,
            reason: None,
            recording_url: None,
        })
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
