//! The README's first command, as a user runs it: the built binary started with `--sandbox`
//! on its embedded SQLite, a token from `switchboard token`, and a meeting bot watched from
//! trigger to Jira issues over GraphQL and its WebSocket. It runs on the embedded SQLite
//! whatever TEST_DATABASE_URL says: that default is what it proves.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::common::binary::Server;
use crate::common::{Ws, WALK};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Every `next` payload of each subscription, by id, until all of them `complete`, within
/// `limit`.
async fn follow(ws: &mut Ws, ids: &[&str], limit: Duration) -> HashMap<String, Vec<Value>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut payloads: HashMap<String, Vec<Value>> = HashMap::new();
    let mut open: Vec<&str> = ids.to_vec();
    while !open.is_empty() {
        let message = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .unwrap_or_else(|_| panic!("{open:?} still open after {limit:?}: {payloads:?}"));
        let Some(Ok(Message::Text(text))) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let id = frame["id"].as_str().unwrap_or_default().to_string();
        match frame["type"].as_str() {
            Some("next") => payloads
                .entry(id)
                .or_default()
                .push(frame["payload"].clone()),
            Some("complete") => open.retain(|open| *open != id),
            Some("error") => panic!("subscription refused: {frame}"),
            _ => {}
        }
    }
    payloads
}

#[tokio::test]
async fn the_sandbox_server_walks_a_triggered_bot_through_to_jira_issues_and_stops_cleanly() {
    let server = Server::start_sandbox().await;
    let token = server.token();
    assert!(
        server.data_dir.join("switchboard.db").exists(),
        "the server's embedded database is its own, in its data directory"
    );

    let trigger = server
        .gql(
        Some(&token),
        "mutation { triggerMeetingBot(input: {meetUrl: \"https://meet.google.com/abc-defg-hij\", botName: \"Scribe\"}) { id status } }",
        json!({}),
    )
    .await
    .unwrap();
    let bot = &trigger["data"]["triggerMeetingBot"];
    assert_eq!(bot["status"], "INITIALIZED", "{trigger}");
    let id = bot["id"].as_str().unwrap();

    let mut ws = Ws::connect(server.addr, "graphql-transport-ws").await;
    ws.authenticate(&token).await;
    ws.send(json!({"id": "status", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { botStatus(botId: $id) { sequence status } }", "variables": {"id": id}}})).await;
    ws.send(json!({"id": "transcript", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { meetingTranscript(botId: $id) { sequence } }", "variables": {"id": id}}})).await;
    let followed = follow(&mut ws, &["status", "transcript"], Duration::from_secs(60)).await;
    let statuses: Vec<String> = followed["status"]
        .iter()
        .map(|p| {
            p["data"]["botStatus"]["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        statuses, WALK,
        "the simulated bot service walks through the waiting room and the meeting"
    );
    assert!(
        !followed["transcript"].is_empty(),
        "the simulated transcriber's segments, then the end"
    );

    let done = server
        .gql(
            Some(&token),
            "query($id: ID!) { meetingBot(id: $id) { resultData tasks { jiraKey } } }",
            json!({"id": id}),
        )
        .await
        .unwrap();
    let done = &done["data"]["meetingBot"];
    assert!(
        done["resultData"]["tasks_created"].as_u64().unwrap() > 0,
        "{done}"
    );
    assert!(
        done["tasks"][0]["jiraKey"]
            .as_str()
            .unwrap()
            .starts_with("SANDBOX-"),
        "{done}"
    );

    // SIGTERM: the server drains and exits on its own, successfully.
    let mut server = server;
    let stopped = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not stop within 10 s of SIGTERM");
}
