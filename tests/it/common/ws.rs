//! A WebSocket client for the GraphQL endpoint (and the others): the frames the server sends, read one at a
//! time, keep-alives skipped.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What the server sent next: a JSON message, or the close frame's code and reason.
#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Closed(u16, String),
}

impl Ws {
    /// A WebSocket to the GraphQL endpoint of the server at `addr`, speaking `protocol`.
    pub async fn connect(addr: SocketAddr, protocol: &str) -> Self {
        let mut request = format!("ws://{addr}/graphql/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        Self::open(request).await
    }

    /// A WebSocket opened by `request` (any endpoint, any headers).
    pub async fn open(request: tokio_tungstenite::tungstenite::handshake::client::Request) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Ws { stream }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn next(&mut self) -> Frame {
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                    .await
                    .expect("a frame within 10 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ka" || value["type"] == "ping" {
                        continue;
                    }
                    return Frame::Json(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(frame) => Frame::Closed(frame.code.into(), frame.reason.to_string()),
                        None => Frame::Closed(1005, String::new()),
                    }
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Frame::Closed(1006, String::new()),
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next().await {
            Frame::Json(value) => value,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// `connection_init` with `token`, which the server must accept.
    pub async fn authenticate(&mut self, token: &str) {
        let answer = self.init(json!({ "token": token })).await;
        assert_eq!(answer.as_json()["type"], "connection_ack", "{answer:?}");
    }

    /// graphql-transport-ws handshake with the given connection_init payload.
    pub async fn init(&mut self, payload: Value) -> Frame {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        self.next().await
    }
}

impl Frame {
    pub fn as_json(&self) -> &Value {
        match self {
            Frame::Json(value) => value,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}
