//! Broadcasts from creation to the last recipient: every recipient sent to exactly once,
//! recipients checked and de-duplicated, scheduling on the server's clock, and progress
//! pushed live. (`sending` has failures, cancelling, the rate limit and crashes; `access` the
//! seed's routes and the denials.)

mod access;
pub mod fakes;
mod sending;

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::MockServer;

use crate::agents::create_agent;
use crate::common::{error_code, TestApp, TestDb};
use fakes::{Telegram, BOT_TOKEN};

pub const CREATE: &str =
    "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) {
  id status total channel scheduledAt sequence } }";

pub const SHOW: &str = "query($id: ID!, $status: RecipientStatus) { broadcast(id: $id) {
  id status total failure
  progress { sequence status total rate etaSeconds counts { pending sending sent failed unknown } }
  recipients(status: $status, first: 100) { edges { node { position recipient status attempts error sentAt } } }
} }";

/// An app on `db` whose Telegram is the fake, sending at most `rate` messages a second.
pub async fn app_on(server: &MockServer, db: &TestDb, rate: u32) -> TestApp {
    let telegram = server.uri();
    TestApp::builder()
        .db(db)
        .config(move |config| {
            config.providers.telegram_api_base = telegram.parse().unwrap();
            config.providers.timeout_secs = 5;
            config.public_base_url = "https://switchboard.test".parse().unwrap();
            config.channels.telegram_send_rate = rate;
            config.broadcasts.max_attempts = 4;
        })
        .spawn()
        .await
}

/// acme's agent with a Telegram bot: (agent, integration).
pub async fn telegram_agent(app: &TestApp, org: &str) -> (String, String) {
    let agent = create_agent(app, org, json!({"name": "Broadcaster"})).await;
    let answer = app
        .gql(
            Some(&app.admin(org)),
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }",
            json!({"input": {"agentId": agent, "kind": "TELEGRAM", "name": "News bot",
                "telegram": {"botToken": BOT_TOKEN, "mode": "WEBHOOK"}}}),
        )
        .await;
    let integration = answer["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not connected: {answer}"))
        .to_string();
    (agent, integration)
}

/// Creates a broadcast as `org`'s admin; answers the mutation's whole response.
pub async fn create(app: &TestApp, org: &str, input: Value) -> Value {
    app.gql(Some(&app.admin(org)), CREATE, json!({"input": input}))
        .await
}

/// Creates it and answers its id.
pub async fn create_ok(app: &TestApp, org: &str, input: Value) -> String {
    let answer = create(app, org, input).await;
    answer["data"]["createBroadcast"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not created: {answer}"))
        .to_string()
}

pub fn chats(range: std::ops::Range<i64>) -> Vec<String> {
    range.map(|n| (1_000_000 + n).to_string()).collect()
}

/// The broadcast as `org`'s admin sees it.
pub async fn show(app: &TestApp, org: &str, id: &str, status: Option<&str>) -> Value {
    let answer = app
        .gql(
            Some(&app.admin(org)),
            SHOW,
            json!({"id": id, "status": status}),
        )
        .await;
    answer["data"]["broadcast"].clone()
}

/// Waits (up to 20 s) for the broadcast to reach `status`.
pub async fn wait_for(app: &TestApp, org: &str, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        last = show(app, org, id, None).await;
        if last["status"] == status {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the broadcast never became {status}: {last}");
}

#[tokio::test]
async fn a_broadcast_reaches_every_recipient_once_and_completes() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let mut recipients = chats(0..60);
    // Repeats, and the same chat written another way, are sent to once.
    recipients.extend(chats(0..10));
    recipients.push(" +1000005".into());
    let answer = create(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Spring sale!",
            "recipients": recipients}),
    )
    .await;
    let created = &answer["data"]["createBroadcast"];
    assert_eq!(created["total"], 60, "{answer}");
    assert_eq!(created["channel"], "telegram");
    assert!(["PENDING", "PROCESSING"].contains(&created["status"].as_str().unwrap()));
    let id = created["id"].as_str().unwrap();

    let done = wait_for(&app, "acme", id, "COMPLETED").await;
    let progress = &done["progress"];
    assert_eq!(progress["counts"]["sent"], 60, "{done}");
    assert_eq!(progress["counts"]["pending"], 0);
    assert_eq!(progress["etaSeconds"], Value::Null);
    let received = telegram.received();
    assert_eq!(received.len(), 60);
    assert!(received.values().all(|n| *n == 1), "{received:?}");
    let recipients = done["recipients"]["edges"].as_array().unwrap();
    assert_eq!(recipients.len(), 60);
    assert!(recipients
        .iter()
        .all(|e| e["node"]["status"] == "SENT" && e["node"]["attempts"] == 1));
    assert_eq!(recipients[5]["node"]["recipient"], "1000005");

    let listed = app
        .gql(
            Some(&app.admin("acme")),
            "query($agent: ID!) { broadcasts(agentId: $agent, first: 5) { edges { node { id status } } } }",
            json!({"agent": agent}),
        )
        .await;
    assert_eq!(
        listed["data"]["broadcasts"]["edges"][0]["node"]["id"], id,
        "{listed}"
    );
}

#[tokio::test]
async fn bad_recipients_are_refused_and_nothing_is_written() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    for (recipients, why) in [
        (json!(["1000001", "@someone", "12.5"]), "2 recipient(s)"),
        (json!([]), "must not be empty"),
    ] {
        let answer = create(
            &app,
            "acme",
            json!({"agentId": agent, "integrationId": integration, "message": "Hi",
                "recipients": recipients}),
        )
        .await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    }
    let blank = create(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "  ",
            "recipients": ["1000001"]}),
    )
    .await;
    assert_eq!(error_code(&blank), "BAD_USER_INPUT", "{blank}");
    let stored = app
        .sql_text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM broadcasts WHERE agent_id = $1",
            &agent,
        )
        .await;
    assert_eq!(stored, "0");
    let rows = app
        .sql_text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM broadcast_recipients WHERE recipient <> $1",
            "",
        )
        .await;
    assert_eq!(rows, "0");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(telegram.sent_count(), 0);
}

#[tokio::test]
async fn a_scheduled_broadcast_waits_for_its_time_on_the_clock() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let at = app.services.clock.now() + chrono::Duration::hours(2);
    let answer = create(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Tomorrow",
            "recipients": chats(0..5), "scheduledAt": at.to_rfc3339()}),
    )
    .await;
    let created = &answer["data"]["createBroadcast"];
    assert_eq!(created["status"], "SCHEDULED", "{answer}");
    let id = created["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(show(&app, "acme", id, None).await["status"], "SCHEDULED");
    assert_eq!(telegram.sent_count(), 0);

    app.services.clock.advance(chrono::Duration::hours(2));
    wait_for(&app, "acme", id, "COMPLETED").await;
    assert_eq!(telegram.sent_count(), 5);
}

#[tokio::test]
async fn progress_is_pushed_until_the_broadcast_completes() {
    let (server, _telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let at = app.services.clock.now() + chrono::Duration::minutes(5);
    let id = create_ok(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Soon",
            "recipients": chats(0..30), "scheduledAt": at.to_rfc3339()}),
    )
    .await;
    let mut ws = app.ws_as_admin().await;
    ws.send(json!({"id": "p", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { sequence status total counts { pending sent } } }",
        "variables": {"id": id}}}))
    .await;
    let first = ws.next_json().await;
    let snapshot = &first["payload"]["data"]["broadcastProgress"];
    assert_eq!(snapshot["status"], "SCHEDULED", "{first}");
    assert_eq!(snapshot["counts"]["pending"], 30);

    app.services.clock.advance(chrono::Duration::minutes(6));
    let mut seen = vec![snapshot.clone()];
    loop {
        let frame = ws.next_json().await;
        match frame["type"].as_str() {
            Some("next") => seen.push(frame["payload"]["data"]["broadcastProgress"].clone()),
            Some("complete") => break,
            _ => panic!("unexpected frame {frame}"),
        }
    }
    let sequences: Vec<i64> = seen
        .iter()
        .map(|p| p["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert!(seen.iter().any(|p| p["status"] == "PROCESSING"), "{seen:?}");
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["counts"]["sent"], 30);
}

#[tokio::test]
async fn a_sandbox_integration_broadcasts_through_the_simulated_messenger() {
    let app = TestApp::spawn().await;
    let agent = create_agent(&app, "acme", json!({"name": "Try"})).await;
    let answer = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }",
            json!({"input": {"agentId": agent, "kind": "SANDBOX", "name": "Try it"}}),
        )
        .await;
    let integration = answer["data"]["connectIntegration"]["id"].as_str().unwrap();
    let id = create_ok(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Hello from the sandbox",
            "recipients": ["ana", "ben", "ana"]}),
    )
    .await;
    let done = wait_for(&app, "acme", &id, "COMPLETED").await;
    assert_eq!(done["total"], 2);
    let sent = app.services.providers.messengers.simulated().sent();
    let mut to: Vec<&str> = sent
        .iter()
        .filter(|m| m.text == "Hello from the sandbox")
        .map(|m| m.to.as_str())
        .collect();
    to.sort();
    assert_eq!(to, ["ana", "ben"]);
}
