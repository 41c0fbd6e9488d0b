//! The operations one WebSocket carries.

use std::time::Duration;

use serde_json::json;

use crate::common::follow::{subscribe, FOLLOW};
use crate::common::scene::Scene;
use crate::common::{error_code, Frame, TestApp};

#[tokio::test]
async fn a_client_that_stops_reading_gets_every_frame_whole_and_in_order_once_it_reads_again() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    // Far more than the loopback socket's buffers hold, so the server has to hold the rest
    // back until the client reads again; as many operations as one connection may run, since
    // those held back are still running.
    let schema = "__schema { types { name kind description \
        fields { name description type { name kind ofType { name kind } } args { name description } } \
        inputFields { name description type { name kind ofType { name kind } } } \
        enumValues { name description } } }";
    let query =
        format!("{{ a: {schema} b: {schema} c: {schema} d: {schema} e: {schema} f: {schema} }}");
    let operations = switchboard::graphql::websocket::MAX_OPERATIONS;
    for id in 0..operations {
        ws.send(json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": query}}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut bytes = 0;
    for id in 0..operations {
        let next = ws.next_json().await;
        assert_eq!(
            (next["type"].as_str(), next["id"].as_str()),
            (Some("next"), Some(id.to_string().as_str())),
            "operation {id}'s answer comes next"
        );
        assert!(
            next["payload"]["data"]["f"]["types"].is_array(),
            "operation {id}: {}",
            next["payload"]
        );
        bytes += next.to_string().len();
        let complete = ws.next_json().await;
        assert_eq!(
            (complete["type"].as_str(), complete["id"].as_str()),
            (Some("complete"), Some(id.to_string().as_str()))
        );
    }
    assert!(
        bytes > 12 * 1024 * 1024,
        "only {bytes} bytes: the socket's buffers could have held them all"
    );
}

#[tokio::test]
async fn a_second_subscribe_with_an_id_still_open_closes_the_websocket_with_4409() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = Scene::new().await;
    let (mut ws, _) = subscribe(&app, &token, &id, None).await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}})).await;
    match ws.next().await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4409);
            assert_eq!(reason, "Subscriber for s already exists");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn stopping_one_of_two_operations_on_a_socket_ends_only_that_one_and_frees_its_id() {
    use switchboard::meetings::{change_status, Transition};
    use switchboard::meetings::{BotStatus, ChangeSource};
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = Scene::new().await;
    // (protocol, subscribe, stop, a frame's type, what a stop is answered with)
    let dialects = [
        (
            "graphql-transport-ws",
            "subscribe",
            "complete",
            "next",
            None,
        ),
        ("graphql-ws", "start", "stop", "data", Some("complete")),
    ];
    let mut sockets = Vec::new();
    for (protocol, subscribe, stop, next, stop_answer) in dialects {
        let mut ws = app.ws(protocol).await;
        ws.init(json!({"token": token})).await;
        let start = |op: &str| json!({"id": op, "type": subscribe, "payload": {"query": FOLLOW, "variables": {"id": id}}});
        ws.send(start("a")).await;
        ws.send(start("b")).await;
        let mut first = [ws.next_json().await, ws.next_json().await].map(|f| f["id"].clone());
        first.sort_by_key(|id| id.to_string());
        assert_eq!(first, [json!("a"), json!("b")], "{protocol}");

        ws.send(json!({"id": "a", "type": stop})).await;
        if let Some(answer) = stop_answer {
            let frame = ws.next_json().await;
            assert_eq!(
                (frame["type"].as_str(), frame["id"].as_str()),
                (Some(answer), Some("a"))
            );
        }
        // The id is free again: no 4409, and the new operation starts from the current status.
        ws.send(start("a")).await;
        let again = ws.next_json().await;
        assert_eq!(
            (again["type"].as_str(), again["id"].as_str()),
            (Some(next), Some("a"))
        );
        assert_eq!(
            again["payload"]["data"]["botStatus"]["status"],
            "INITIALIZED"
        );
        sockets.push((protocol, next, ws));
    }

    let s = &app.services;
    for status in [BotStatus::Connecting, BotStatus::Done] {
        let why = Transition::because("moved by the test");
        change_status(s, &id, status, ChangeSource::Webhook, why)
            .await
            .unwrap();
    }
    for (protocol, next, mut ws) in sockets {
        // Each live operation gets both changes and then `complete`; the stopped one nothing.
        let mut frames: Vec<(String, String)> = Vec::new();
        while frames.iter().filter(|(_, kind)| kind == "complete").count() < 2 {
            let frame = ws.next_json().await;
            let kind = match frame["type"].as_str() {
                Some(kind) if kind == next => frame["payload"]["data"]["botStatus"]["status"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                Some(kind) => kind.to_string(),
                None => panic!("{frame}"),
            };
            frames.push((frame["id"].as_str().unwrap().to_string(), kind));
        }
        for op in ["a", "b"] {
            let seen: Vec<&str> = frames
                .iter()
                .filter(|(id, _)| id == op)
                .map(|(_, kind)| kind.as_str())
                .collect();
            assert_eq!(seen, ["CONNECTING", "DONE", "complete"], "{protocol} {op}");
        }
    }
}

#[tokio::test]
async fn one_websocket_runs_at_most_a_hundred_operations_at_once() {
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    let follow = |op: usize| json!({"id": op.to_string(), "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}});
    for op in 0..switchboard::graphql::websocket::MAX_OPERATIONS {
        ws.send(follow(op)).await;
        let first = ws.next_json().await;
        assert_eq!(
            first["payload"]["data"]["botStatus"]["status"], "INITIALIZED",
            "{first}"
        );
    }
    ws.send(follow(1000)).await;
    let refused = ws.next_json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["id"].as_str()),
        (Some("next"), Some("1000"))
    );
    assert_eq!(error_code(&refused["payload"]), "RATE_LIMITED", "{refused}");
    assert_eq!(
        ws.next_json().await,
        json!({"type": "complete", "id": "1000"})
    );
    // Once one stops, there is room again.
    ws.send(json!({"id": "0", "type": "complete"})).await;
    ws.send(follow(1001)).await;
    let first = ws.next_json().await;
    assert_eq!(first["id"], "1001");
    assert_eq!(
        first["payload"]["data"]["botStatus"]["status"], "INITIALIZED",
        "{first}"
    );
}
