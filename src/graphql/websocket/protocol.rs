//! The two subprotocols' vocabulary: which one a connection speaks, the messages a client
//! sends (one parser for both, their names aliased), and the close codes. What each message
//! does is the connection's business; what it is called and how a refusal is coded is here.

use async_graphql::Request;
use serde::Deserialize;

/// Closing codes of graphql-transport-ws.
pub(super) const INVALID_MESSAGE: u16 = 4400;
pub(super) const UNAUTHORIZED: u16 = 4401;
pub(super) const FORBIDDEN: u16 = 4403;
pub(super) const INIT_TIMED_OUT: u16 = 4408;
pub(super) const DUPLICATE_ID: u16 = 4409;
pub(super) const TOO_MANY_INITS: u16 = 4429;
/// Closing codes of RFC 6455 (section 7.4.1).
pub(super) const GOING_AWAY: u16 = 1001;
pub(super) const PROTOCOL_ERROR: u16 = 1002;
pub(super) const MESSAGE_TOO_BIG: u16 = 1009;

/// The legacy protocol's keep-alive message.
pub(super) const LEGACY_KEEP_ALIVE: &[u8] = br#"{"type":"ka"}"#;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// graphql-transport-ws.
    TransportWs,
    /// subscriptions-transport-ws, offered as `graphql-ws`.
    Legacy,
}

impl Dialect {
    pub(super) fn name(self) -> &'static str {
        match self {
            Dialect::TransportWs => "graphql-transport-ws",
            Dialect::Legacy => "graphql-ws",
        }
    }

    /// The type of a message carrying a result.
    pub(super) fn next(self) -> &'static str {
        match self {
            Dialect::TransportWs => "next",
            Dialect::Legacy => "data",
        }
    }
}

/// A client's message in either protocol: the legacy names (`start`, `stop`) are aliases.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ClientMessage {
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

impl ClientMessage {
    /// A message's text; one that is not a message of ours closes with 4400.
    pub(super) fn parse(message: &[u8]) -> Result<Self, Closing> {
        serde_json::from_slice(message)
            .map_err(|err| Some((INVALID_MESSAGE, format!("Invalid message received: {err}"))))
    }
}

/// What ends a connection: a close frame to send, or nothing when the client went away.
pub(super) type Closing = Option<(u16, String)>;

/// A message the socket could not read. Over the size limit is 1009, as RFC 6455 has it;
/// anything else broke the protocol, or the client is gone and the close frame goes nowhere.
pub(super) fn unreadable(err: &tokio_tungstenite::tungstenite::Error) -> Closing {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Capacity(_) => Some((MESSAGE_TOO_BIG, "message too big".into())),
        Error::ConnectionClosed | Error::AlreadyClosed | Error::Io(_) => None,
        _ => Some((PROTOCOL_ERROR, "protocol error".into())),
    }
}

/// `value` as a JSON string literal.
pub(super) fn json_string(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}
