//! GraphQL over WebSocket: the handshake, the graphql-transport-ws protocol's rules, and how
//! a connection closes.

mod flood;
mod keep_alive;
mod operations;

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Role;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Frame, TestApp, Ws, VIEWER_QUERY};

#[tokio::test]
async fn a_websocket_without_a_token_is_closed_with_4403() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws("graphql-transport-ws").await;
    match ws.init(json!({})).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("token"), "{reason}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let mut ws = app.ws("graphql-transport-ws").await;
    match ws.init(json!({"token": "garbage"})).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("malformed"), "{reason}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_authenticated_in_connection_init_runs_operations_as_that_viewer() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    for payload in [
        json!({"Authorization": format!("Bearer {token}")}),
        json!({"token": token}),
    ] {
        let mut ws = app.ws("graphql-transport-ws").await;
        assert_eq!(ws.init(payload).await.as_json()["type"], "connection_ack");
        ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
            .await;
        let next = ws.next_json().await;
        assert_eq!(next["type"], "next");
        assert_eq!(next["payload"]["data"]["viewer"]["organisationId"], "acme");
        assert_eq!(ws.next_json().await["type"], "complete");
    }
}

#[tokio::test]
async fn a_websocket_client_naming_no_subprotocol_is_spoken_graphql_transport_ws() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let url = app.url("/graphql/ws").replacen("http", "ws", 1);
    let (stream, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(
        response.headers().get("sec-websocket-protocol").is_none(),
        "no protocol is answered when none was asked for"
    );
    let mut ws = Ws { stream };
    ws.authenticate(&token).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
        .await;
    assert_eq!(ws.next_json().await["type"], "next");
}

#[tokio::test]
async fn a_client_closing_its_websocket_gets_the_closing_handshake_answered() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    ws.stream
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    match ws.next().await {
        Frame::Closed(code, reason) => assert_eq!((code, reason.as_str()), (1000, "bye")),
        other => panic!("expected the close to be answered, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_shutting_down_closes_each_websocket_with_1001_and_then_stops() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    let stopping = tokio::spawn(app.stop());
    match ws.next().await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 1001);
            assert_eq!(reason, "server shutting down");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server drains once its sockets are closed")
        .unwrap();
}

/// The close code a connection ends with after `messages`, sent in order after the handshake
/// (`None`: no handshake).
async fn closed_with(app: &TestApp, init: Option<Value>, messages: &[Value]) -> (u16, String) {
    let mut ws = app.ws("graphql-transport-ws").await;
    if let Some(payload) = init {
        assert_eq!(ws.init(payload).await.as_json()["type"], "connection_ack");
    }
    for message in messages {
        ws.send(message.clone()).await;
    }
    loop {
        match ws.next().await {
            Frame::Closed(code, reason) => return (code, reason),
            Frame::Json(_) => continue,
        }
    }
}

#[tokio::test]
async fn protocol_violations_close_the_websocket_with_graphql_transport_ws_codes() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let init = || Some(json!({"token": token}));
    let subscribe = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription($id: ID!) { botStatus(botId: $id) { status } }", "variables": {"id": "missing"}}});

    let (code, _) = closed_with(&app, None, &[subscribe("1")]).await;
    assert_eq!(code, 4401, "subscribing before connection_init");
    let (code, reason) = closed_with(&app, init(), &[json!({"type": "launch"})]).await;
    assert_eq!(code, 4400, "an unknown message type");
    assert!(reason.starts_with("Invalid message"), "{reason}");
    let (code, _) = closed_with(&app, init(), &[json!({"type": "connection_init"})]).await;
    assert_eq!(code, 4429, "a second connection_init");
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_closes_that_connection_only() {
    let app = TestApp::builder()
        .config(|c| c.graphql.body_limit = 4096)
        .spawn()
        .await;
    let token = app.token("ann", "acme", Role::Admin);
    let padding = "x".repeat(8192);
    let (code, _) = closed_with(
        &app,
        Some(json!({"token": token})),
        &[json!({"type": "ping", "payload": {"padding": padding}})],
    )
    .await;
    assert_eq!(code, 1009, "message too big");
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.authenticate(&token).await;
}
