//! A quiet WebSocket: pings and pongs, the legacy protocol's keep-alives, a connection whose
//! client stopped answering, and the credential checked again at each keep-alive.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::auth::Role;
use tokio_tungstenite::tungstenite::Message;

use crate::common::follow::subscribe;
use crate::common::scene::{token_about_to_expire, Scene};
use crate::common::{Frame, TestApp, Ws, VIEWER_QUERY};

#[tokio::test]
async fn a_ping_is_answered_with_a_pong() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    ws.send(json!({"type": "ping"})).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
        .await;
    // `next` skips pings but not pongs: the pong comes first, then the operation's frames.
    assert_eq!(ws.next_json().await["type"], "pong");
    assert_eq!(ws.next_json().await["type"], "next");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_is_spoken_too() {
    let app = app_keeping_alive_every_second().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-ws").await;
    ws.authenticate(&token).await;
    // Right after the ack, as Apollo's servers did, and then at every keep-alive.
    for _ in 0..2 {
        assert_eq!(next_text(&mut ws).await["type"], "ka");
    }
    ws.send(json!({"id": "7", "type": "start", "payload": {"query": VIEWER_QUERY}}))
        .await;
    let data = ws.next_json().await;
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["viewer"]["userId"], "ann");

    let mut refused = app.ws("graphql-ws").await;
    let frame = refused.init(json!({})).await;
    assert_eq!(frame.as_json()["type"], "connection_error");
}

async fn app_keeping_alive_every_second() -> TestApp {
    TestApp::builder()
        .config(|c| c.graphql.keep_alive_secs = 1)
        .spawn()
        .await
}

/// The next text message, skipping WebSocket pings (which the client answers by itself).
async fn next_text(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("a message within 5 s");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_idle_websocket_is_pinged_and_dropped_once_the_client_stops_answering() {
    let app = app_keeping_alive_every_second().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;

    // A client that reads answers each ping with a pong, and stays connected.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while let Ok(message) = tokio::time::timeout_at(until, ws.stream.next()).await {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings in 3.5 s at one a second");

    // One that stops reading sends no pong: the ping after next finds nothing heard, and
    // the server lets the connection go.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Reading again answers the pings it finds, so only a deadline tells a drop from a stay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .expect("the server ends a connection that stopped answering");
        match message {
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            other => panic!("expected the end, got {other:?}"),
        }
    }
}

/// The server closes `ws` with 4403 within a few keep-alives (pings alone do not count),
/// saying `why`.
async fn assert_closed_as_forbidden(ws: &mut Ws, why: &str) {
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the server closes the socket within a few keep-alives");
    match frame {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("expected the socket closed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_whose_token_expires_is_closed_with_4403_while_it_follows_a_bot() {
    let Scene { app, bot: id, .. } = Scene::checking_every_second().await;
    let (mut ws, seen) = subscribe(&app, &token_about_to_expire(&app), &id, None).await;
    assert_eq!(seen, vec![(1, "INITIALIZED".to_string())]);
    assert_closed_as_forbidden(&mut ws, "expired").await;
}

#[tokio::test]
async fn a_websocket_whose_api_key_is_revoked_is_closed_with_4403() {
    let Scene { app, bot: id, .. } = Scene::checking_every_second().await;
    let admin = app.admin("acme");
    let created = app
        .gql(
            Some(&admin),
            "mutation { createApiKey(name: \"dashboard\", role: MANAGER) { secret apiKey { id } } }",
            json!({}),
        )
        .await;
    let key = created["data"]["createApiKey"]["secret"].as_str().unwrap();
    let key_id = created["data"]["createApiKey"]["apiKey"]["id"].clone();
    let (mut ws, seen) = subscribe(&app, key, &id, None).await;
    assert_eq!(seen.len(), 1, "followed with the key");

    let revoked = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({"id": key_id}),
        )
        .await;
    assert!(
        revoked["data"]["revokeApiKey"]["revokedAt"].is_string(),
        "{revoked}"
    );
    assert_closed_as_forbidden(&mut ws, "revoked").await;
}
