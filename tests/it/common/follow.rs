//! Following a bot over a WebSocket: its `botStatus` and `meetingTranscript` subscriptions,
//! and the gauge of the subscription executions running.

use std::time::Duration;

use serde_json::json;

use super::{TestApp, Ws, WALK};

/// [`WALK`] as the (sequence, status) pairs a `botStatus` subscriber receives.
pub fn walk_with_sequences() -> Vec<(i64, String)> {
    (1..).zip(WALK.iter().map(|s| s.to_string())).collect()
}

/// `botStatus` of bot `$id`, from after sequence `$after`.
pub const FOLLOW: &str = "subscription($id: ID!, $after: Int) { botStatus(botId: $id, after: $after) { sequence status } }";

/// Subscribes and waits for the first event, so the subscription is live before the test
/// moves the bot on.
pub async fn subscribe(
    app: &TestApp,
    token: &str,
    id: &str,
    after: Option<i64>,
) -> (Ws, Vec<(i64, String)>) {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id, "after": after}}})).await;
    let first = ws.next_json().await;
    let change = &first["payload"]["data"]["botStatus"];
    let seen = vec![(
        change["sequence"].as_i64().unwrap(),
        change["status"].as_str().unwrap().to_string(),
    )];
    (ws, seen)
}

/// Reads `next` frames until `complete`, after those already `seen`; returns
/// (sequence, status) pairs.
pub async fn read_until_complete(ws: &mut Ws, seen: Vec<(i64, String)>) -> Vec<(i64, String)> {
    read_field_until_complete(ws, seen, "botStatus", "status").await
}

/// Reads `next` frames of the `subscription` field until `complete`, after those already
/// `seen`; returns (sequence, `value`) pairs.
async fn read_field_until_complete(
    ws: &mut Ws,
    mut seen: Vec<(i64, String)>,
    subscription: &str,
    value: &str,
) -> Vec<(i64, String)> {
    loop {
        let frame = ws.next_json().await;
        match frame["type"].as_str() {
            Some("next") => {
                let item = &frame["payload"]["data"][subscription];
                seen.push((
                    item["sequence"].as_i64().unwrap(),
                    item[value].as_str().unwrap().to_string(),
                ));
            }
            Some("complete") => return seen,
            _ => panic!("unexpected frame {frame}"),
        }
    }
}

/// `meetingTranscript` of bot `$id`, from after segment `$after`.
pub const TRANSCRIPT: &str = "subscription($id: ID!, $after: Int) { meetingTranscript(botId: $id, after: $after) { sequence speaker text } }";

/// A `meetingTranscript` subscription. One that cannot end at once (a transcript still to
/// come) is live when the subscription gauge counts it.
pub async fn follow_transcript(app: &TestApp, token: &str, id: &str, after: Option<i64>) -> Ws {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.authenticate(token).await;
    ws.send(json!({"id": "t", "type": "subscribe", "payload": {"query": TRANSCRIPT, "variables": {"id": id, "after": after}}})).await;
    ws
}

/// The (sequence, speaker) pairs received until `complete`.
pub async fn read_transcript_until_complete(ws: &mut Ws) -> Vec<(i64, String)> {
    read_field_until_complete(ws, Vec::new(), "meetingTranscript", "speaker").await
}

/// The `switchboard_subscriptions_open` gauge: how many subscription executions are running.
async fn open_executions(app: &TestApp) -> i64 {
    let metrics = app.get_text("/metrics").await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("switchboard_subscriptions_open "))
        .map(|value| value.trim().parse::<f64>().unwrap() as i64)
        .unwrap_or(0)
}

/// Waits until `wanted` subscription executions are running. The gauge counts the whole
/// process's, so a test that reads it needs the process to itself (as nextest gives it).
pub async fn wait_for_executions(app: &TestApp, wanted: i64) {
    for _ in 0..200 {
        if open_executions(app).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {wanted} running executions, found {}",
        open_executions(app).await
    );
}
