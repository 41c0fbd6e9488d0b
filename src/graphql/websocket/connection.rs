//! One task per connection: it reads the client's messages (tungstenite parses them), acts on
//! them, and writes every operation's frames through the outgoing queue. An idle connection is
//! pinged so proxies keep it open, and dropped once its client stops answering.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::frames::{Operation, Socket, CLOSE, PING};
use super::protocol::{
    json_string, unreadable, ClientMessage, Closing, Dialect, DUPLICATE_ID, FORBIDDEN, GOING_AWAY,
    INIT_TIMED_OUT, LEGACY_KEEP_ALIVE, TOO_MANY_INITS, UNAUTHORIZED,
};
use super::wake::{Sources, BOTH, CONTROL, SOCKET};
use crate::auth::Caller;
use crate::graphql::AppState;

/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last frames (a close frame, say) may take to leave once the connection ends.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Operations one connection may run at once: far more than any screen follows, few enough
/// that one client cannot start executions without bound.
pub const MAX_OPERATIONS: usize = 100;

/// Serves an upgraded connection speaking `dialect` until it ends.
pub(super) async fn run(
    upgraded: hyper::upgrade::Upgraded,
    config: WebSocketConfig,
    dialect: Dialect,
    app: AppState,
) {
    let socket = Socket::new(TokioIo::new(upgraded));
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
        let held_back = socket.queue_ready_frames(&mut self.operations, cx);
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
        match ClientMessage::parse(message)? {
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
                    crate::graphql::gateway::refused(crate::error::AppError::RateLimited {
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
