//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` library's protocol) and the
//! legacy subscriptions-transport-ws (`graphql-ws` subprotocol). One task per connection reads
//! the client's messages (tungstenite parses them) and writes every operation's frames. Writes
//! skip tungstenite: payloads arrive serialized from the gateway (shared between subscribers of
//! the same subscription), and each is framed straight into the connection's outgoing queue,
//! which tungstenite's own replies (pongs, a close's answer) join too, so frames stay whole and
//! in order; once enough waits there for a slow client, its operations are held back. An idle
//! connection is pinged so proxies keep it open, and dropped once its client stops answering.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::Request;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use futures_util::stream::BoxStream;
use futures_util::task::AtomicWaker;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::Frame;
use crate::auth::Caller;
use crate::error::AppError;
use crate::AppState;

/// Frames taken from one operation before the others get their turn.
const FRAMES_PER_TURN: usize = 16;

/// How much may wait in a connection's outgoing queue before its operations stop being
/// polled. A client reading slowly, or not at all, then holds back its own executions, and a
/// shared execution's frames wait in their channel as shared payloads rather than as copies:
/// its memory stays bounded by this, the socket's buffers and that channel.
const QUEUE_HIGH_WATER: usize = 64 * 1024;

/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last frames (a close frame, say) may take to leave once the connection ends.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Closing codes of graphql-transport-ws.
const INVALID_MESSAGE: u16 = 4400;
const UNAUTHORIZED: u16 = 4401;
const FORBIDDEN: u16 = 4403;
const INIT_TIMED_OUT: u16 = 4408;
const DUPLICATE_ID: u16 = 4409;
const TOO_MANY_INITS: u16 = 4429;
const PROTOCOL_ERROR: u16 = 1002;
const MESSAGE_TOO_BIG: u16 = 1009;
/// Operations one connection may run at once: far more than any screen follows, few enough
/// that one client cannot start executions without bound.
pub const MAX_OPERATIONS: usize = 100;
const GOING_AWAY: u16 = 1001;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// graphql-transport-ws.
    TransportWs,
    /// subscriptions-transport-ws, offered as `graphql-ws`.
    Legacy,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::TransportWs => "graphql-transport-ws",
            Dialect::Legacy => "graphql-ws",
        }
    }

    /// The client's preferred protocol of those we speak, if it named one.
    fn offered(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .find_map(|name| match name.trim() {
                "graphql-transport-ws" => Some(Dialect::TransportWs),
                "graphql-ws" => Some(Dialect::Legacy),
                _ => None,
            })
    }

    fn next(self) -> &'static str {
        match self {
            Dialect::TransportWs => "next",
            Dialect::Legacy => "data",
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: Box<Request>,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    Ping {},
    Pong {},
    ConnectionTerminate,
}

/// The opening handshake (RFC 6455 section 4.2) for HTTP/1.1 upgrades; a request that is not one
/// is refused with the status and message a client can act on.
pub async fn upgrade(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let accept = match handshake_key(&parts.method, parts.version, &parts.headers) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err((status, message)) => {
            return AppError::bad_request(status, message).into_graphql_response();
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return AppError::bad_request(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket",
        )
        .into_graphql_response();
    };
    // graphql-transport-ws when the client names no protocol, and then none is answered.
    let offered = Dialect::offered(&parts.headers);
    let dialect = offered.unwrap_or(Dialect::TransportWs);
    // A message may be as large as a request body, and no larger. Clients' messages are
    // small, so is the read buffer: thousands of idle subscribers cost little memory each, and
    // tungstenite zeroes it before every read attempt, which each wake-up for a frame makes.
    let limit = app.services.config.graphql.body_limit;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(1024);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let socket = Socket {
            io: TokioIo::new(upgraded),
            queued: Vec::new(),
        };
        let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(config)).await;
        metrics::gauge!("switchboard_websockets_open").increment(1.0);
        Connection {
            ws,
            dialect,
            app,
            caller: None,
            credential: String::new(),
            heard_since_ping: true,
            operations: Vec::new(),
            sources: Sources::new(),
        }
        .serve()
        .await;
        metrics::gauge!("switchboard_websockets_open").decrement(1.0);
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(dialect) = offered {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(dialect.name()),
        );
    }
    response
}

/// The client's `Sec-WebSocket-Key` when the request is a WebSocket opening handshake.
fn handshake_key(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<String, (StatusCode, &'static str)> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    if method != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket opens with a GET request",
        ));
    }
    if version > Version::HTTP_11 {
        return Err((
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "a WebSocket opens over HTTP/1.1",
        ));
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err((
            StatusCode::BAD_REQUEST,
            "this endpoint speaks WebSocket only: send Connection: upgrade and Upgrade: websocket",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version.as_bytes() != b"13")
    {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"));
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| key.to_str().ok())
        .map(str::to_string)
        .ok_or((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"))
}

/// The upgraded connection with an ordered outgoing queue. Every write, ours and tungstenite's
/// (its automatic pongs, its answer to a close), is appended whole behind what is queued and
/// sent from there, so frames never interleave or overtake one another.
struct Socket {
    io: TokioIo<hyper::upgrade::Upgraded>,
    queued: Vec<u8>,
}

impl Socket {
    /// Sends what is queued; `Pending` until the socket has taken all of it.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.queued.is_empty() {
            let written = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.queued))?;
            if written == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.queued.drain(..written);
        }
        // A burst for a slow client should not stay allocated once it has gone.
        if self.queued.capacity() > 64 * 1024 {
            self.queued = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    fn queue_frame(&mut self, opcode: u8, parts: &[&[u8]]) {
        push_frame(&mut self.queued, opcode, parts);
    }

    fn queue_text(&mut self, parts: &[&[u8]]) {
        self.queue_frame(TEXT, parts);
    }
}

/// Appends a server frame (final, unmasked, RFC 6455 section 5.2) whose payload is `parts`
/// in order.
fn push_frame(out: &mut Vec<u8>, opcode: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// WebSocket opcodes (RFC 6455 section 5.2).
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.queued.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What ends a connection: a close frame to send, or nothing when the client went away.
type Closing = Option<(u16, String)>;

/// A message the socket could not read. Over the size limit is 1009, as RFC 6455 has it;
/// anything else broke the protocol, or the client is gone and the close frame goes nowhere.
fn unreadable(err: &tokio_tungstenite::tungstenite::Error) -> Closing {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Capacity(_) => Some((MESSAGE_TOO_BIG, "message too big".into())),
        Error::ConnectionClosed | Error::AlreadyClosed | Error::Io(_) => None,
        _ => Some((PROTOCOL_ERROR, "protocol error".into())),
    }
}

struct Connection {
    ws: WebSocketStream<Socket>,
    dialect: Dialect,
    app: AppState,
    /// Set by an accepted `connection_init`.
    caller: Option<Caller>,
    /// That `connection_init`'s credential, checked again before each subscription and at
    /// each keep-alive: a token that expires, or a key revoked, ends the connection then, not
    /// whenever the client leaves.
    credential: String,
    /// Whether the client has sent anything (a pong, say) since the last keep-alive ping.
    heard_since_ping: bool,
    /// The running operations, in the order they started.
    operations: Vec<Operation>,
    sources: Sources,
}

/// Whether the socket or the timers and shutdown token woke the connection. A wake-up for a
/// frame then polls the operations alone: polling the socket (through tungstenite), the timers
/// and the token as well took about a fifth of the server's own (user) CPU time when a change
/// goes to a thousand subscribers, each one's state being cold in cache. Those two are polled
/// with wakers of their own, which mark them fired before waking the task; the operations get
/// the task's own waker, so a frame's wake-up costs nothing more than it did.
struct Sources {
    fired: Arc<Fired>,
    socket: Waker,
    control: Waker,
    /// Sources to poll again whatever fires: one that was ready may be ready again.
    again: u8,
}

const SOCKET: u8 = 1;
const CONTROL: u8 = 2;
const BOTH: u8 = SOCKET | CONTROL;

struct Fired {
    sources: AtomicU8,
    task: AtomicWaker,
}

struct SourceWaker {
    fired: Arc<Fired>,
    source: u8,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Marked before the task is woken, so the wake-up finds it.
        self.fired.sources.fetch_or(self.source, Ordering::AcqRel);
        self.fired.task.wake();
    }
}

impl Sources {
    fn new() -> Self {
        let fired = Arc::new(Fired {
            sources: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        let waker = |source| {
            Waker::from(Arc::new(SourceWaker {
                fired: fired.clone(),
                source,
            }))
        };
        Self {
            socket: waker(SOCKET),
            control: waker(CONTROL),
            fired,
            again: BOTH,
        }
    }

    /// The sources besides the operations to poll now. The task's waker is registered
    /// first, so that a source firing from here on wakes the task again.
    fn take_fired(&mut self, task: &Waker) -> u8 {
        self.fired.task.register(task);
        self.fired.sources.swap(0, Ordering::AcqRel) | std::mem::take(&mut self.again)
    }
}

struct Operation {
    id: String,
    /// Its `next` message up to the payload, built once.
    envelope: String,
    frames: BoxStream<'static, Frame>,
}

/// What wakes the connection.
enum Event {
    Incoming(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    /// The socket refused a write: the client is gone.
    Gone,
    InitTimedOut,
    KeepAlive,
    ShuttingDown,
}

impl Connection {
    async fn serve(mut self) {
        // A token of the connection's own: polled at every wake-up, it costs an uncontended
        // lock, where the server-wide token's would be shared by every connection.
        let shutdown = self.app.services.shutdown.child_token();
        let mut shutdown = std::pin::pin!(shutdown.cancelled_owned());
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut init_deadline = std::pin::pin!(init_deadline);
        let every = self.app.schema.keep_alive();
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let closing: Closing = loop {
            let event = std::future::poll_fn(|cx| {
                self.poll_event(
                    cx,
                    shutdown.as_mut(),
                    init_deadline.as_mut(),
                    &mut keep_alive,
                )
            })
            .await;
            // Whatever happens next (a message handled, an operation started, a tick
            // taken), every source is polled on the next turn.
            self.sources.again = BOTH;
            match event {
                Event::Incoming(incoming) => {
                    if matches!(incoming, Some(Ok(_))) {
                        self.heard_since_ping = true;
                    }
                    let received = match incoming {
                        Some(Ok(Message::Text(text))) => self.receive(text.as_bytes()).await,
                        Some(Ok(Message::Binary(bytes))) => self.receive(&bytes).await,
                        Some(Err(err)) => break unreadable(&err),
                        Some(Ok(Message::Close(_))) | None => break None,
                        Some(Ok(_)) => continue,
                    };
                    if let Err(closing) = received {
                        break closing;
                    }
                }
                Event::Gone => break None,
                Event::InitTimedOut => {
                    break Some((INIT_TIMED_OUT, "Connection initialisation timeout".into()));
                }
                Event::KeepAlive => {
                    // Not even the last ping's pong came back: the client is gone, and a
                    // close frame would go nowhere.
                    if !std::mem::replace(&mut self.heard_since_ping, false) {
                        break None;
                    }
                    if let Err(closing) = self.recheck_caller().await {
                        break closing;
                    }
                    self.ping();
                }
                Event::ShuttingDown => break Some((GOING_AWAY, "server shutting down".into())),
            }
        };
        if let Some((code, mut reason)) = closing {
            // A close frame's reason may be at most 123 bytes.
            while reason.len() > 123 {
                reason.pop();
            }
            self.ws
                .get_mut()
                .queue_frame(CLOSE, &[&code.to_be_bytes(), reason.as_bytes()]);
        }
        // What is queued leaves before the socket closes, unless the client has stopped
        // reading: our close frame, or the answer to the client's, which tungstenite writes
        // on its next flush.
        let _ = tokio::time::timeout(FINAL_FLUSH, async {
            let _ = futures_util::SinkExt::flush(&mut self.ws).await;
            let socket = self.ws.get_mut();
            std::future::poll_fn(|cx| socket.poll_send(cx)).await
        })
        .await;
    }

    /// Frames the operations' ready payloads into the outgoing queue and sends it, then polls
    /// the client's messages and the timers, these two only when they woke the connection (see
    /// [`Sources`]). Each operation is polled until it has nothing more, so one wake-up for a
    /// frame costs two polls: the one that takes it and the one that leaves its waker.
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        shutdown: Pin<&mut tokio_util::sync::WaitForCancellationFutureOwned>,
        init_deadline: Pin<&mut tokio::time::Sleep>,
        keep_alive: &mut tokio::time::Interval,
    ) -> Poll<Event> {
        let fired = self.sources.take_fired(cx.waker());
        let socket_cx = &mut Context::from_waker(&self.sources.socket);
        let socket = self.ws.get_mut();
        let held_back = queue_ready_frames(&mut self.operations, &mut socket.queued, cx);
        match socket.poll_send(socket_cx) {
            Poll::Ready(Err(_)) => return Poll::Ready(Event::Gone),
            // Drained: the frames held back come on the next turn.
            Poll::Ready(Ok(())) if held_back => cx.waker().wake_by_ref(),
            _ => {}
        }
        if fired & SOCKET != 0 {
            if let Poll::Ready(message) = self.ws.poll_next_unpin(socket_cx) {
                return Poll::Ready(Event::Incoming(message));
            }
        }
        if fired & CONTROL != 0 {
            let cx = &mut Context::from_waker(&self.sources.control);
            if shutdown.poll(cx).is_ready() {
                return Poll::Ready(Event::ShuttingDown);
            }
            if self.caller.is_none() && init_deadline.poll(cx).is_ready() {
                return Poll::Ready(Event::InitTimedOut);
            }
            if keep_alive.poll_tick(cx).is_ready() {
                return Poll::Ready(Event::KeepAlive);
            }
        }
        Poll::Pending
    }

    /// Handles one client message; `Err` closes the connection.
    async fn receive(&mut self, message: &[u8]) -> Result<(), Closing> {
        let message = serde_json::from_slice::<ClientMessage>(message)
            .map_err(|err| Some((INVALID_MESSAGE, format!("Invalid message received: {err}"))))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.caller.is_some() {
                    return Err(Some((
                        TOO_MANY_INITS,
                        "Too many initialisation requests".into(),
                    )));
                }
                self.init(payload.unwrap_or_default()).await
            }
            ClientMessage::Subscribe { id, payload } => {
                let Some(caller) = self.caller.clone() else {
                    return Err(Some((UNAUTHORIZED, "Unauthorized".into())));
                };
                self.recheck_caller().await?;
                if self.operations.iter().any(|operation| operation.id == id) {
                    return Err(Some((
                        DUPLICATE_ID,
                        format!("Subscriber for {id} already exists"),
                    )));
                }
                let frames = if self.operations.len() >= MAX_OPERATIONS {
                    super::gateway::refused(AppError::RateLimited {
                        message: format!(
                            "at most {MAX_OPERATIONS} operations may run on one connection"
                        ),
                        retry_after_secs: None,
                    })
                } else {
                    self.app.schema.subscribe(*payload, caller, false)
                };
                let envelope = format!(
                    r#"{{"type":"{}","id":{},"payload":"#,
                    self.dialect.next(),
                    json_string(&id)
                );
                self.operations.push(Operation {
                    id,
                    envelope,
                    frames,
                });
                Ok(())
            }
            ClientMessage::Complete { id } => {
                // graphql-transport-ws expects silence; the legacy protocol a `complete`.
                let running = self
                    .operations
                    .iter()
                    .position(|operation| operation.id == id);
                if let Some(index) = running {
                    self.operations.remove(index);
                    if self.dialect == Dialect::Legacy {
                        self.send_json(serde_json::json!({"type": "complete", "id": id}));
                    }
                }
                Ok(())
            }
            ClientMessage::Ping {} => {
                self.send_json(serde_json::json!({"type": "pong"}));
                Ok(())
            }
            ClientMessage::Pong {} => Ok(()),
            ClientMessage::ConnectionTerminate => Err(None),
        }
    }

    /// Closes with 4403 once the credential of `connection_init` no longer holds.
    async fn recheck_caller(&mut self) -> Result<(), Closing> {
        let Some(Caller::Known(before)) = &self.caller else {
            return Ok(());
        };
        self.app
            .services
            .auth
            .recheck(&self.credential, before)
            .await
            .map_err(|reason| Some((FORBIDDEN, format!("Forbidden: {reason}"))))
    }

    async fn init(&mut self, payload: serde_json::Value) -> Result<(), Closing> {
        let reason = match self.app.services.auth.from_init_payload(&payload).await {
            caller @ Caller::Known(_) => {
                self.caller = Some(caller);
                self.credential = crate::auth::credential_in_init(&payload).unwrap_or_default();
                self.send_json(serde_json::json!({"type": "connection_ack"}));
                if self.dialect == Dialect::Legacy {
                    // As Apollo's servers did: legacy clients time a connection out only
                    // once they have had a first `ka`.
                    self.ws.get_mut().queue_text(&[LEGACY_KEEP_ALIVE]);
                }
                return Ok(());
            }
            Caller::Anonymous => {
                "Forbidden: connection_init must carry a token (Authorization or token)".into()
            }
            Caller::Rejected(reason) => format!("Forbidden: {reason}"),
        };
        if self.dialect == Dialect::Legacy {
            // The legacy protocol reports a refusal as a message, then the socket closes.
            self.send_json(
                serde_json::json!({"type": "connection_error", "payload": {"message": reason}}),
            );
        }
        Err(Some((FORBIDDEN, reason)))
    }

    /// A WebSocket ping, which browsers answer by themselves, keeps proxies from closing an
    /// idle connection; legacy clients also expect a `ka` message.
    fn ping(&mut self) {
        let socket = self.ws.get_mut();
        socket.queue_frame(PING, &[]);
        if self.dialect == Dialect::Legacy {
            socket.queue_text(&[LEGACY_KEEP_ALIVE]);
        }
    }

    /// Queues a message; the connection's loop sends it.
    fn send_json(&mut self, message: serde_json::Value) {
        self.ws
            .get_mut()
            .queue_text(&[message.to_string().as_bytes()]);
    }
}

/// Queues every ready frame, and `complete` for an operation that has ended (which then
/// leaves the connection), until `queued` reaches [`QUEUE_HIGH_WATER`]; returns whether it
/// stopped there, leaving operations unpolled. An operation with more than its turn's frames
/// ready is polled again on the next wake-up, which it is given at once.
fn queue_ready_frames(
    operations: &mut Vec<Operation>,
    queued: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> bool {
    let mut held_back = false;
    operations.retain_mut(|operation| {
        for taken in 1.. {
            if queued.len() >= QUEUE_HIGH_WATER {
                held_back = true;
                break;
            }
            if taken > FRAMES_PER_TURN {
                cx.waker().wake_by_ref();
                break;
            }
            match operation.frames.poll_next_unpin(cx) {
                Poll::Ready(Some(frame)) => push_frame(
                    queued,
                    TEXT,
                    &[
                        operation.envelope.as_bytes(),
                        frame.payload.as_bytes(),
                        b"}",
                    ],
                ),
                Poll::Ready(None) => {
                    push_frame(
                        queued,
                        TEXT,
                        &[
                            br#"{"type":"complete","id":"#,
                            json_string(&operation.id).as_bytes(),
                            b"}",
                        ],
                    );
                    return false;
                }
                Poll::Pending => break,
            }
        }
        true
    });
    held_back
}

/// The legacy protocol's keep-alive message.
const LEGACY_KEEP_ALIVE: &[u8] = br#"{"type":"ka"}"#;

/// `value` as a JSON string literal.
fn json_string(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn each_wake_up_reports_the_sources_that_fired_since_the_last_once() {
        let task = futures_util::task::noop_waker();
        let mut sources = Sources::new();
        assert_eq!(
            sources.take_fired(&task),
            BOTH,
            "the first turn polls everything"
        );
        assert_eq!(
            sources.take_fired(&task),
            0,
            "a frame's wake-up polls neither"
        );

        sources.socket.wake_by_ref();
        assert_eq!(sources.take_fired(&task), SOCKET);
        sources.control.wake_by_ref();
        sources.socket.wake_by_ref();
        assert_eq!(sources.take_fired(&task), BOTH);
        assert_eq!(sources.take_fired(&task), 0, "taken once");

        sources.again = CONTROL;
        assert_eq!(sources.take_fired(&task), CONTROL, "asked to poll again");
    }

    #[test]
    fn a_source_firing_wakes_the_task_that_polled_last() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(Default::default()));
        let task = Waker::from(count.clone());
        let mut sources = Sources::new();
        sources.take_fired(&task);
        sources.control.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    fn operation_of(frames: Vec<Frame>) -> Operation {
        Operation {
            id: "1".into(),
            envelope: r#"{"type":"next","id":"1","payload":"#.into(),
            frames: futures_util::stream::iter(frames).boxed(),
        }
    }

    #[test]
    fn a_full_outgoing_queue_takes_no_more_frames_until_it_drains() {
        let waker = futures_util::task::noop_waker();
        let cx = &mut Context::from_waker(&waker);
        let payload: Arc<str> = format!(r#"{{"data":"{}"}}"#, "x".repeat(10 * 1024)).into();
        let frame = Frame {
            payload,
            position: None,
        };
        let mut operations = vec![operation_of(vec![frame; 10])];

        let mut queued = vec![0; QUEUE_HIGH_WATER];
        assert!(queue_ready_frames(&mut operations, &mut queued, cx));
        assert_eq!(queued.len(), QUEUE_HIGH_WATER, "nothing taken while full");

        let nexts = |queued: &[u8]| {
            String::from_utf8_lossy(queued)
                .matches(r#""type":"next""#)
                .count()
        };
        queued.clear();
        assert!(queue_ready_frames(&mut operations, &mut queued, cx));
        // Six frames of just over 10 KiB stay under the 64 KiB mark; the seventh crosses it.
        assert_eq!(nexts(&queued), 7, "taken up to the mark");

        queued.clear();
        assert!(!queue_ready_frames(&mut operations, &mut queued, cx));
        assert_eq!(nexts(&queued), 3, "the rest, once drained");
        assert!(
            String::from_utf8_lossy(&queued).ends_with(r#"{"type":"complete","id":"1"}"#),
            "then the operation's end"
        );
        assert!(operations.is_empty());
    }

    #[test]
    fn frames_of_every_length_encoding_parse_as_one_whole_final_text_frame() {
        // 7-bit, 16-bit and 64-bit lengths, at and around their edges.
        for len in [0, 1, 125, 126, 127, 65535, 65536, 200_000] {
            let payload = "x".repeat(len);
            let (head, tail) = payload.as_bytes().split_at(len / 2);
            let mut out = Vec::new();
            push_frame(&mut out, TEXT, &[head, tail]);

            let mut cursor = std::io::Cursor::new(&out);
            let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final, "{len}: final");
            assert_eq!(header.opcode, OpCode::Data(Data::Text), "{len}: text");
            assert_eq!(header.mask, None, "{len}: a server's frames are unmasked");
            assert_eq!(length as usize, len, "{len}: declared length");
            let start = cursor.position() as usize;
            assert_eq!(
                &out[start..],
                payload.as_bytes(),
                "{len}: payload follows whole"
            );
        }
    }
}
