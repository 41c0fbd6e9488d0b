//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` library's protocol) and the
//! legacy subscriptions-transport-ws (`graphql-ws` subprotocol). Per connection, one task
//! handles the client's messages and writes every operation's frames, and a second only reads
//! the socket: a wake-up for a frame then never costs a read attempt (tungstenite zeroes its
//! read buffer on each). Payloads arrive serialized from the gateway (shared between
//! subscribers of the same subscription), so sending one is a copy into the frame. An idle
//! connection is pinged so proxies keep it open, and dropped once its client stops answering.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_graphql::Request;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{BoxStream, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::Frame;
use crate::auth::Caller;
use crate::AppState;

/// Client messages read ahead of the connection's handling of them.
const READ_AHEAD: usize = 8;

/// Frames taken from one operation before the others get their turn.
const FRAMES_PER_TURN: usize = 16;

/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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

pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The client's preferred protocol we speak; graphql-transport-ws when it names none.
    let dialect = headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| match name.trim() {
            "graphql-transport-ws" => Some(Dialect::TransportWs),
            "graphql-ws" => Some(Dialect::Legacy),
            _ => None,
        })
        .unwrap_or(Dialect::TransportWs);
    // A message may be as large as a request body, and no larger.
    let limit = app.services.config.graphql.body_limit;
    upgrade
        .protocols([dialect.name()])
        .max_message_size(limit)
        .max_frame_size(limit)
        // Small buffers: thousands of idle subscribers should cost little memory each.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            metrics::gauge!("switchboard_websockets_open").increment(1.0);
            let (sink, stream) = socket.split();
            Connection {
                sink,
                dialect,
                app,
                caller: None,
                heard_since_ping: true,
                operations: Vec::new(),
                ready: Vec::new(),
            }
            .serve(stream)
            .await;
            metrics::gauge!("switchboard_websockets_open").decrement(1.0);
        })
}

/// What ends a connection: a close frame to send, or nothing when the client went away.
type Closing = Option<(u16, String)>;

/// A message the socket could not read. Over the size limit is 1009, as RFC 6455 has it;
/// anything else broke the protocol, or the client is gone and the close frame goes nowhere.
fn unreadable(err: &axum::Error) -> Closing {
    use tokio_tungstenite::tungstenite::Error;
    let cause = std::error::Error::source(err).and_then(|inner| inner.downcast_ref::<Error>());
    if matches!(cause, Some(Error::Capacity(_))) {
        Some((MESSAGE_TOO_BIG, "message too big".into()))
    } else {
        Some((PROTOCOL_ERROR, "protocol error".into()))
    }
}

struct Connection {
    sink: SplitSink<WebSocket, Message>,
    dialect: Dialect,
    app: AppState,
    /// Set by an accepted `connection_init`.
    caller: Option<Caller>,
    /// Whether the client has sent anything (a pong, say) since the last keep-alive ping.
    heard_since_ping: bool,
    /// The running operations, in the order they started.
    operations: Vec<Operation>,
    /// Frames taken from the operations and not yet written: the operation's index, and `None`
    /// once it has ended. Kept to reuse its allocation.
    ready: Vec<(usize, Option<Frame>)>,
}

struct Operation {
    id: String,
    /// Its `next` message up to the payload, built once.
    envelope: String,
    frames: BoxStream<'static, Frame>,
}

/// What wakes the connection.
enum Event {
    /// Operations' frames are in `Connection::ready`.
    Frames,
    Incoming(Option<Incoming>),
    InitTimedOut,
    KeepAlive,
}

/// What the reading task passes on.
enum Incoming {
    Message(Result<Message, axum::Error>),
    /// The server is shutting down.
    ShuttingDown,
}

/// Reads the client's messages on a task of its own until the socket ends or the connection
/// stops listening; dropping it stops the reading. It also watches for the server's shutdown:
/// woken only by the socket, it waits on the server-wide token at no cost, where the writing
/// task would take the token's lock again at every frame.
struct Reader(tokio::task::AbortHandle);

impl Reader {
    fn spawn(
        mut stream: SplitStream<WebSocket>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> (Self, tokio::sync::mpsc::Receiver<Incoming>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD);
        let task = tokio::spawn(async move {
            let mut shutdown = std::pin::pin!(shutdown.cancelled());
            loop {
                let incoming = tokio::select! {
                    message = stream.next() => match message {
                        Some(message) => Incoming::Message(message),
                        None => break,
                    },
                    _ = &mut shutdown => Incoming::ShuttingDown,
                };
                let last = !matches!(incoming, Incoming::Message(Ok(_)));
                if sender.send(incoming).await.is_err() || last {
                    break;
                }
            }
        });
        (Self(task.abort_handle()), receiver)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Connection {
    async fn serve(mut self, stream: SplitStream<WebSocket>) {
        let shutdown = self.app.services.shutdown.clone();
        let (_reader, mut incoming) = Reader::spawn(stream, shutdown);
        let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
        let mut init_deadline = std::pin::pin!(init_deadline);
        let every = self.app.schema.keep_alive();
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let closing: Closing = loop {
            let event = std::future::poll_fn(|cx| {
                self.poll_event(cx, &mut incoming, init_deadline.as_mut(), &mut keep_alive)
            })
            .await;
            match event {
                Event::Frames => {
                    // Everything ready goes out in one write (a last frame and its
                    // `complete`, say).
                    if !self.write_ready().await || self.sink.flush().await.is_err() {
                        break None;
                    }
                }
                Event::Incoming(incoming) => {
                    if matches!(incoming, Some(Incoming::Message(Ok(_)))) {
                        self.heard_since_ping = true;
                    }
                    let received = match incoming {
                        Some(Incoming::Message(Ok(Message::Text(text)))) => {
                            self.receive(text.as_bytes()).await
                        }
                        Some(Incoming::Message(Ok(Message::Binary(bytes)))) => {
                            self.receive(&bytes).await
                        }
                        Some(Incoming::Message(Err(err))) => break unreadable(&err),
                        Some(Incoming::Message(Ok(Message::Close(_)))) | None => break None,
                        Some(Incoming::Message(Ok(_))) => continue,
                        Some(Incoming::ShuttingDown) => {
                            break Some((GOING_AWAY, "server shutting down".into()))
                        }
                    };
                    if let Err(closing) = received {
                        break closing;
                    }
                }
                Event::InitTimedOut => {
                    break Some((INIT_TIMED_OUT, "Connection initialisation timeout".into()));
                }
                Event::KeepAlive => {
                    // Not even the last ping's pong came back: the client is gone, and a
                    // close frame would go nowhere.
                    if !std::mem::replace(&mut self.heard_since_ping, false) || !self.ping().await {
                        break None;
                    }
                }
            }
        };
        if let Some((code, mut reason)) = closing {
            // A close frame's reason may be at most 123 bytes.
            while reason.len() > 123 {
                reason.pop();
            }
            let _ = self
                .sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
        }
    }

    /// Polls the operations first, then the client's messages, then the timers. Each
    /// operation is polled until it has nothing more, so one wake-up for a frame costs two
    /// polls: the one that takes it and the one that leaves its waker.
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        incoming: &mut tokio::sync::mpsc::Receiver<Incoming>,
        init_deadline: Pin<&mut tokio::time::Sleep>,
        keep_alive: &mut tokio::time::Interval,
    ) -> Poll<Event> {
        for (index, operation) in self.operations.iter_mut().enumerate() {
            for _ in 0..FRAMES_PER_TURN {
                match operation.frames.poll_next_unpin(cx) {
                    Poll::Ready(Some(frame)) => self.ready.push((index, Some(frame))),
                    Poll::Ready(None) => {
                        self.ready.push((index, None));
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if !self.ready.is_empty() {
            return Poll::Ready(Event::Frames);
        }
        if let Poll::Ready(message) = incoming.poll_recv(cx) {
            return Poll::Ready(Event::Incoming(message));
        }
        if self.caller.is_none() && init_deadline.poll(cx).is_ready() {
            return Poll::Ready(Event::InitTimedOut);
        }
        if keep_alive.poll_tick(cx).is_ready() {
            return Poll::Ready(Event::KeepAlive);
        }
        Poll::Pending
    }

    /// Queues every ready frame, or `complete` for an operation that has ended (which then
    /// leaves the connection), without flushing; false once the socket is gone.
    async fn write_ready(&mut self) -> bool {
        let mut ready = std::mem::take(&mut self.ready);
        let mut written = true;
        for (index, frame) in &ready {
            let operation = &self.operations[*index];
            let text = match frame {
                Some(frame) => {
                    let mut text =
                        String::with_capacity(operation.envelope.len() + frame.payload.len() + 1);
                    text.push_str(&operation.envelope);
                    text.push_str(&frame.payload);
                    text.push('}');
                    text
                }
                None => format!(
                    r#"{{"type":"complete","id":{}}}"#,
                    json_string(&operation.id)
                ),
            };
            if self
                .sink
                .feed(Message::Text(Utf8Bytes::from(text)))
                .await
                .is_err()
            {
                written = false;
                break;
            }
        }
        // Ended operations leave last to first, so the indices still to go stay valid.
        for (index, _) in ready.iter().rev().filter(|(_, frame)| frame.is_none()) {
            self.operations.remove(*index);
        }
        ready.clear();
        self.ready = ready;
        written
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
                if self.operations.iter().any(|operation| operation.id == id) {
                    return Err(Some((
                        DUPLICATE_ID,
                        format!("Subscriber for {id} already exists"),
                    )));
                }
                let frames = if self.operations.len() >= MAX_OPERATIONS {
                    super::gateway::refused(
                        format!("at most {MAX_OPERATIONS} operations may run on one connection"),
                        "RATE_LIMITED",
                    )
                } else {
                    self.app.schema.subscribe(*payload, caller)
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
                        self.send_json(serde_json::json!({"type": "complete", "id": id}))
                            .await;
                    }
                }
                Ok(())
            }
            ClientMessage::Ping {} => {
                self.send_json(serde_json::json!({"type": "pong"})).await;
                Ok(())
            }
            ClientMessage::Pong {} => Ok(()),
            ClientMessage::ConnectionTerminate => Err(None),
        }
    }

    async fn init(&mut self, payload: serde_json::Value) -> Result<(), Closing> {
        let reason = match self.app.services.auth.from_init_payload(&payload).await {
            caller @ Caller::Known(_) => {
                self.caller = Some(caller);
                self.send_json(serde_json::json!({"type": "connection_ack"}))
                    .await;
                if self.dialect == Dialect::Legacy {
                    // As Apollo's servers did: legacy clients time a connection out only
                    // once they have had a first `ka`.
                    let _ = self.sink.send(legacy_keep_alive()).await;
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
            )
            .await;
        }
        Err(Some((FORBIDDEN, reason)))
    }

    /// A WebSocket ping, which browsers answer by themselves, keeps proxies from closing an
    /// idle connection; legacy clients also expect a `ka` message.
    async fn ping(&mut self) -> bool {
        if self
            .sink
            .feed(Message::Ping(axum::body::Bytes::new()))
            .await
            .is_err()
        {
            return false;
        }
        if self.dialect == Dialect::Legacy && self.sink.feed(legacy_keep_alive()).await.is_err() {
            return false;
        }
        self.sink.flush().await.is_ok()
    }

    async fn send_json(&mut self, message: serde_json::Value) -> bool {
        self.sink
            .send(Message::Text(message.to_string().into()))
            .await
            .is_ok()
    }
}

/// The legacy protocol's keep-alive message.
fn legacy_keep_alive() -> Message {
    Message::Text(Utf8Bytes::from_static(r#"{"type":"ka"}"#))
}

/// `value` as a JSON string literal.
fn json_string(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}
