//! `GET /ws`: the meeting-status WebSocket of Vexa (seed 001), so frontends written for it
//! follow our bots unchanged. Authenticated by `?api_key=`, `X-API-Key` or a Bearer token
//! (an API key or a JWT of ours); the client sends `{"action": "subscribe" | "unsubscribe",
//! "meetings": [{"platform", "native_id"}]}` or `{"action": "ping"}`, and receives what
//! `vexa_feed` makes of each followed meeting's newest bot in the caller's organisation.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::link::MeetingPlatform;
use super::store;
use super::vexa_feed::feed;
use crate::auth::{credential_in_headers, Caller, Viewer};
use crate::error::AppError;
use crate::graphql::websocket::{accept_plain, MAX_OPERATIONS};
use crate::services::Services;

/// Close codes: 4401 and 4403 as graphql-transport-ws uses them, 1001 when the server stops,
/// 1008 for a client that stopped answering pings' worth of time.
const UNAUTHORIZED: u16 = 4401;
const GOING_AWAY: u16 = 1001;

/// How often an idle connection is pinged (and its credential checked again); a client that
/// sends nothing, not even a pong, between two pings is gone.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// How long the messages of one step may take to leave before the client is taken for gone.
const SEND_DEADLINE: Duration = Duration::from_secs(10);

/// How long the last frames (the answer to a client's close) may take to leave.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Client messages are a few hundred bytes; this is ample.
const MAX_MESSAGE: usize = 64 * 1024;

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Deserialize)]
struct Params {
    api_key: Option<String>,
}

async fn upgrade(
    State(services): State<Services>,
    Query(params): Query<Params>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let (response, on_upgrade) = match accept_plain(&mut parts) {
        Ok(opened) => opened,
        Err(refusal) => return refusal.into_response(),
    };
    let credential = match params.api_key.as_deref().map(str::trim) {
        Some(key) => Ok(Some(key.to_string())),
        None => credential_in_headers(&parts.headers).map(|found| found.map(str::to_string)),
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let caller = match &credential {
            Ok(Some(credential)) => services.auth.from_credential(credential).await,
            Ok(None) => Caller::Anonymous,
            Err(reason) => Caller::Rejected((*reason).into()),
        };
        match (caller.viewer(), credential) {
            (Ok(viewer), Ok(Some(credential))) => {
                let connection = Connection {
                    viewer: viewer.clone(),
                    credential,
                    services,
                    followed: HashMap::new(),
                    feeds: SelectAll::new(),
                };
                connection.serve(ws).await;
            }
            (Err(refused), _) => close(&mut ws, UNAUTHORIZED, &refused.client_message()).await,
            (Ok(_), _) => close(&mut ws, UNAUTHORIZED, "no credential").await,
        }
    });
    response
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

async fn close(ws: &mut Socket, code: u16, reason: &str) {
    // A close frame's reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason[..end].to_string().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(Some(frame))).await;
}

/// A meeting as a client names it.
#[derive(Deserialize, Clone, PartialEq, Eq, Hash)]
struct MeetingName {
    platform: String,
    native_id: String,
}

impl MeetingName {
    fn json(&self) -> Value {
        json!({"platform": self.platform, "native_id": self.native_id})
    }

    fn label(&self) -> String {
        format!("{}/{}", self.platform, self.native_id)
    }
}

#[derive(Deserialize)]
struct ClientMessage {
    action: String,
    #[serde(default)]
    meetings: Vec<MeetingName>,
}

/// A followed meeting: the bot followed, and the token that stops its feed.
struct Followed {
    bot_id: String,
    stop: CancellationToken,
}

/// One feed's next message; `None` once the meeting has nothing more to say.
type FeedItem = (MeetingName, Option<Result<String, AppError>>);

struct Connection {
    viewer: Viewer,
    credential: String,
    services: Services,
    followed: HashMap<MeetingName, Followed>,
    feeds: SelectAll<BoxStream<'static, FeedItem>>,
}

/// Why the loop stopped: the client left, or we close with a code and reason.
type Closing = Option<(u16, String)>;

impl Connection {
    async fn serve(mut self, mut ws: Socket) {
        metrics::gauge!("switchboard_vexa_websockets_open").increment(1.0);
        let shutdown = self.services.shutdown.clone();
        let mut keep_alive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        let mut heard = true;
        let closing: Closing = loop {
            // Written before anything else is read: a slow reader holds back its own feeds,
            // which catch up from the database rather than queue here.
            let step = tokio::select! {
                incoming = ws.next() => {
                    heard = true;
                    match incoming {
                        Some(Ok(Message::Text(text))) => self.receive(text.as_bytes()).await,
                        Some(Ok(Message::Binary(bytes))) => self.receive(&bytes).await,
                        // Sends tungstenite's answer, which completes the closing handshake.
                        Some(Ok(Message::Close(_))) => {
                            let _ = tokio::time::timeout(FINAL_FLUSH, ws.flush()).await;
                            break None;
                        }
                        None | Some(Err(_)) => break None,
                        Some(Ok(_)) => Ok(Vec::new()),
                    }
                }
                Some((meeting, item)) = self.feeds.next(), if !self.feeds.is_empty() => {
                    Ok(self.fed(meeting, item))
                }
                _ = keep_alive.tick() => {
                    if !std::mem::replace(&mut heard, false) {
                        break None;
                    }
                    if let Err(reason) = self.services.auth.recheck(&self.credential, &self.viewer).await {
                        break Some((UNAUTHORIZED, reason));
                    }
                    if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break None;
                    }
                    Ok(Vec::new())
                }
                _ = shutdown.cancelled() => break Some((GOING_AWAY, "the server is restarting".into())),
            };
            let messages = match step {
                Ok(messages) => messages,
                Err(closing) => break closing,
            };
            // A client that stops reading is dropped, not waited on: its socket would hold
            // the connection, its feeds and a revoked credential for as long as TCP lets it.
            match tokio::time::timeout(SEND_DEADLINE, send_all(&mut ws, messages)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break None,
            }
        };
        for followed in self.followed.values() {
            followed.stop.cancel();
        }
        if let Some((code, reason)) = closing {
            close(&mut ws, code, &reason).await;
        }
        metrics::gauge!("switchboard_vexa_websockets_open").decrement(1.0);
    }

    /// The answers to one client message.
    async fn receive(&mut self, bytes: &[u8]) -> Result<Vec<String>, Closing> {
        let message: ClientMessage = match serde_json::from_slice(bytes) {
            Ok(message) => message,
            Err(_) => {
                return Ok(vec![error(
                    "messages are JSON objects: {\"action\": \"subscribe\" | \"unsubscribe\", \"meetings\": [{\"platform\", \"native_id\"}]} or {\"action\": \"ping\"}",
                    None,
                )]);
            }
        };
        match message.action.as_str() {
            "ping" => Ok(vec![json!({"type": "pong"}).to_string()]),
            "subscribe" => self.subscribe(message.meetings).await,
            "unsubscribe" => Ok(self.unsubscribe(message.meetings)),
            other => Ok(vec![error(
                &format!("unknown action {other:?}: expected subscribe, unsubscribe or ping"),
                None,
            )]),
        }
    }

    async fn subscribe(&mut self, meetings: Vec<MeetingName>) -> Result<Vec<String>, Closing> {
        // A credential revoked since the connection opened follows nothing new.
        if let Err(reason) = self
            .services
            .auth
            .recheck(&self.credential, &self.viewer)
            .await
        {
            return Err(Some((UNAUTHORIZED, reason)));
        }
        let mut answers = Vec::new();
        for meeting in meetings {
            if self.followed.contains_key(&meeting) {
                continue;
            }
            if self.followed.len() >= MAX_OPERATIONS {
                answers.push(error(
                    &format!("a connection follows at most {MAX_OPERATIONS} meetings"),
                    Some(&meeting),
                ));
                continue;
            }
            match find(&self.services, &self.viewer, &meeting).await {
                Ok(bot) => {
                    let stop = CancellationToken::new();
                    let named = meeting.clone();
                    let items = feed(self.services.clone(), bot.clone())
                        .map(move |item| (named.clone(), Some(item)))
                        .chain(futures_util::stream::iter([(meeting.clone(), None)]))
                        .take_until(stop.clone().cancelled_owned());
                    self.feeds.push(items.boxed());
                    self.followed.insert(
                        meeting,
                        Followed {
                            bot_id: bot.id,
                            stop,
                        },
                    );
                }
                Err(err) => answers.push(error(&err.client_message(), Some(&meeting))),
            }
        }
        answers.insert(0, self.acknowledgement("subscribed", None));
        Ok(answers)
    }

    fn unsubscribe(&mut self, meetings: Vec<MeetingName>) -> Vec<String> {
        let removed: Vec<MeetingName> = meetings
            .into_iter()
            .filter(|meeting| match self.followed.remove(meeting) {
                Some(followed) => {
                    followed.stop.cancel();
                    true
                }
                None => false,
            })
            .collect();
        vec![self.acknowledgement("unsubscribed", Some(&removed))]
    }

    /// `{"type": kind, "meetings": …}`: those named, or else every meeting now followed.
    fn acknowledgement(&self, kind: &str, named: Option<&[MeetingName]>) -> String {
        let meetings: Vec<Value> = match named {
            Some(named) => named.iter().map(MeetingName::json).collect(),
            None => self
                .followed
                .iter()
                .map(|(meeting, followed)| {
                    let mut json = meeting.json();
                    json["bot_id"] = json!(followed.bot_id);
                    json
                })
                .collect(),
        };
        json!({"type": kind, "meetings": meetings}).to_string()
    }

    /// What a feed's item sends: its message, or an error and the end of that meeting's feed.
    fn fed(&mut self, meeting: MeetingName, item: Option<Result<String, AppError>>) -> Vec<String> {
        match item {
            Some(Ok(message)) => vec![message],
            Some(Err(err)) => {
                if let Some(followed) = self.followed.remove(&meeting) {
                    followed.stop.cancel();
                }
                vec![error(&err.client_message(), Some(&meeting))]
            }
            None => {
                self.followed.remove(&meeting);
                Vec::new()
            }
        }
    }
}

/// The newest bot the caller's organisation sent into `meeting`; another organisation's
/// meeting is as unknown as one nobody sent a bot into.
async fn find(
    services: &Services,
    viewer: &Viewer,
    meeting: &MeetingName,
) -> Result<store::MeetingBot, AppError> {
    let platform = MeetingPlatform::from_name(&meeting.platform).ok_or_else(|| {
        AppError::BadInput(format!(
            "unknown platform {:?}: expected google_meet, zoom or teams",
            meeting.platform
        ))
    })?;
    let native_id = meeting.native_id.trim();
    if native_id.is_empty() || native_id.len() > 256 {
        return Err(AppError::BadInput(
            "native_id must be the platform's meeting id".into(),
        ));
    }
    store::latest_in_meeting(&services.db, viewer, platform, native_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("meeting {} was not found", meeting.label())))
}

async fn send_all(
    ws: &mut Socket,
    messages: Vec<String>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    for message in messages {
        ws.send(Message::Text(message.into())).await?;
    }
    Ok(())
}

fn error(text: &str, meeting: Option<&MeetingName>) -> String {
    let mut message = json!({"type": "error", "error": text});
    if let Some(meeting) = meeting {
        message["meeting"] = meeting.json();
    }
    message.to_string()
}
