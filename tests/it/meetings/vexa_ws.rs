//! `/ws`, Vexa's meeting-status WebSocket (seed 001): seed 001's own JavaScript example run
//! unchanged against the sandbox, and a Rust client for what the example does not show
//! (another organisation's meeting, a bad key, a late subscriber, the transcript, the
//! pipeline's issues, unsubscribe and ping).

use std::process::Command;

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::meetings::sync_once;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::walk_through_meeting;
use crate::common::fakes::Fakes;
use crate::common::scene::{app_on, trigger_id, wait_for_status, Scene, MEET};

use crate::common::{Frame, TestApp, TestDb, Ws};

/// The meeting `MEET` is, as a Vexa client names it.
fn meet() -> Value {
    json!({"platform": "google_meet", "native_id": "abc-defg-hij"})
}

/// `/ws` with `query` appended and `header` set, if any.
async fn open(app: &TestApp, query: &str, header: Option<(&'static str, String)>) -> Ws {
    let mut request = format!("ws://{}/ws{query}", app.addr)
        .into_client_request()
        .unwrap();
    if let Some((name, value)) = header {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    Ws::open(request).await
}

async fn bearer(app: &TestApp, token: &str) -> Ws {
    open(app, "", Some(("authorization", format!("Bearer {token}")))).await
}

/// An API key of `org`'s, made through the API as its admin would.
async fn api_key(app: &TestApp, org: &str) -> String {
    let made = app
        .gql(
            Some(&app.admin(org)),
            "mutation { createApiKey(name: \"frontend\", role: VIEWER) { secret } }",
            json!({}),
        )
        .await;
    made["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{made}"))
        .to_string()
}

async fn subscribe(ws: &mut Ws, meetings: Value) {
    ws.send(json!({"action": "subscribe", "meetings": meetings}))
        .await;
}

/// Messages until one of `kind` whose payload's `field` is `value`; all of them, that one last.
async fn read_until(ws: &mut Ws, kind: &str, field: &str, value: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let message = ws.next_json().await;
        let done = message["type"] == kind && message["payload"][field] == value;
        seen.push(message);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn seed_001s_javascript_example_logs_every_status_from_requested_to_completed() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/vexa/run_seed_example.js"
    );
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/node_modules/ws");
    assert!(
        std::path::Path::new(modules).exists(),
        "the ws package is missing: run .ci/setup (npm ci --prefix tests/js)"
    );
    let app = TestApp::builder()
        .config(|c| {
            c.sandbox = true;
            c.meetings.sync_interval_secs = 1;
        })
        .spawn()
        .await;
    let key = api_key(&app, "acme").await;
    trigger_id(&app, &app.token("ann", "acme", Role::Manager), MEET).await;

    // The sandbox bot waits two seconds before it joins: the example subscribes well before.
    let ws_url = format!("ws://{}/ws", app.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("SWITCHBOARD_WS_URL", ws_url)
            .env("SWITCHBOARD_API_KEY", key)
            .output()
            .expect("node runs (Node 20 is on the machine)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    let statuses: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Meeting abc-defg-hij status: "))
        .collect();
    assert_eq!(
        statuses,
        [
            "requested",
            "joining",
            "awaiting_admission",
            "active",
            "completed"
        ],
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Transcription completed"), "{stdout}");
    assert!(
        stderr.contains("closed 1005") || stderr.contains("closed 1000"),
        "the example closed the socket itself: {stderr}"
    );
}

#[tokio::test]
async fn a_client_of_another_organisation_gets_an_error_naming_the_meeting_never_its_data() {
    let scene = Scene::new().await;
    let key = api_key(&scene.app, "globex").await;
    let mut ws = open(&scene.app, "", Some(("x-api-key", key))).await;
    subscribe(&mut ws, json!([meet()])).await;

    let ack = ws.next_json().await;
    assert_eq!(ack, json!({"type": "subscribed", "meetings": []}));
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["meeting"], meet());
    assert_eq!(
        refused["error"],
        "meeting google_meet/abc-defg-hij was not found"
    );
    assert!(!refused.to_string().contains(&scene.bot));
    // Nothing else follows: a ping's answer is the next message.
    ws.send(json!({"action": "ping"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_bad_or_missing_key_is_refused_with_a_close_code_and_reason() {
    let scene = Scene::new().await;
    let mut forged = open(&scene.app, "?api_key=sb_not-a-key-of-ours", None).await;
    match forged.next().await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4401);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let mut anonymous = open(&scene.app, "", None).await;
    assert!(matches!(anonymous.next().await, Frame::Closed(4401, _)));
    let mut malformed = open(&scene.app, "", Some(("authorization", "Basic abc".into()))).await;
    assert!(matches!(malformed.next().await, Frame::Closed(4401, _)));
}

#[tokio::test]
async fn a_late_subscriber_gets_the_current_status_first_then_each_change_and_the_transcript() {
    let fakes = Fakes::start().await;
    fakes.pipeline_succeeds().await;
    let scene = Scene::with(fakes).await;
    let (app, fakes) = (&scene.app, &scene.fakes);
    for state in ["joining", "awaiting_admission"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&app.services).await.unwrap();
    }

    let mut ws = bearer(app, &scene.token).await;
    subscribe(&mut ws, json!([meet()])).await;
    let mut followed = meet();
    followed["bot_id"] = json!(scene.bot);
    assert_eq!(
        ws.next_json().await,
        json!({"type": "subscribed", "meetings": [followed]})
    );
    let current = ws.next_json().await;
    assert_eq!(current["type"], "meeting.status");
    assert_eq!(current["meeting"], followed);
    assert_eq!(current["payload"]["status"], "awaiting_admission");
    assert_eq!(current["payload"]["sequence"], 3);
    assert_eq!(current["ts"], current["payload"]["at"]);

    walk_through_meeting(app, fakes).await;
    wait_for_status(app, &scene.token, &scene.bot, "DONE").await;
    let rest = read_until(&mut ws, "meeting.pipeline", "step", "done").await;
    let names: Vec<String> = rest
        .iter()
        .filter(|m| m["type"] != "transcript.finalized")
        .map(|m| {
            let payload = &m["payload"];
            format!(
                "{} {}",
                m["type"].as_str().unwrap(),
                payload["status"]
                    .as_str()
                    .or(payload["step"].as_str())
                    .unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "meeting.status active",
            "meeting.pipeline transcribing",
            "meeting.pipeline analyzing",
            "meeting.pipeline creating_tasks",
            "meeting.status completed",
            "meeting.pipeline done",
        ]
    );
    let segments: Vec<&Value> = rest
        .iter()
        .filter(|m| m["type"] == "transcript.finalized")
        .map(|m| &m["payload"]["segments"][0])
        .collect();
    assert!(!segments.is_empty(), "{rest:?}");
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment["sequence"], i as i64 + 1);
        for field in [
            "start",
            "end",
            "text",
            "absolute_start_time",
            "absolute_end_time",
        ] {
            assert!(!segment[field].is_null(), "{field} in {segment}");
        }
        assert!(segment.get("speaker").is_some() && segment.get("language").is_some());
    }
    let done = rest.last().unwrap();
    let issues = done["payload"]["issues"].as_array().unwrap();
    assert!(!issues.is_empty(), "{done}");
    assert!(issues
        .iter()
        .all(|issue| issue["key"].is_string() && issue["url"].is_string()));

    // The meeting has nothing more to say; the connection stays for the client.
    ws.send(json!({"action": "ping"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn unsubscribing_stops_a_meetings_messages_and_bad_messages_get_errors() {
    let scene = Scene::new().await;
    let (app, fakes) = (&scene.app, &scene.fakes);
    let mut ws = bearer(app, &scene.token).await;

    ws.send(json!({"hello": 1})).await;
    assert_eq!(ws.next_json().await["type"], "error");
    ws.send(json!({"action": "dance"})).await;
    assert!(ws.next_json().await["error"]
        .as_str()
        .unwrap()
        .contains("unknown action"));
    subscribe(&mut ws, json!([{"platform": "skype", "native_id": "x"}])).await;
    assert_eq!(ws.next_json().await["meetings"], json!([]));
    let refused = ws.next_json().await;
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("unknown platform"));

    subscribe(&mut ws, json!([meet()])).await;
    assert_eq!(ws.next_json().await["type"], "subscribed");
    assert_eq!(ws.next_json().await["payload"]["status"], "requested");
    ws.send(json!({"action": "unsubscribe", "meetings": [meet()]}))
        .await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "unsubscribed", "meetings": [meet()]})
    );
    fakes.bot_reports("ext-1", "joining", json!({})).await;
    sync_once(&app.services).await.unwrap();
    ws.send(json!({"action": "ping"})).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "pong"}),
        "no status after unsubscribing"
    );
}

#[tokio::test]
async fn a_plain_http_request_to_ws_is_told_to_open_a_websocket() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/ws?api_key=x")).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("WebSocket"), "{body}");
}

#[tokio::test]
async fn changes_made_on_another_instance_reach_a_vexa_client_in_order_with_no_gap() {
    let db = TestDb::new().await;
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    // Two instances of one deployment; a quiet follower looks at the database every second.
    let here = app_on(&db, &fakes, |c| c.events.recheck_secs = 1).await;
    let channel = here.services.config.events.channel.clone();
    let there = app_on(&db, &fakes, move |c| {
        c.events.recheck_secs = 1;
        c.events.channel = channel;
    })
    .await;
    let token = here.token("ann", "acme", Role::Manager);
    trigger_id(&here, &token, MEET).await;

    let mut ws = bearer(&here, &token).await;
    subscribe(&mut ws, json!([meet()])).await;
    assert_eq!(ws.next_json().await["type"], "subscribed");
    for state in ["joining", "awaiting_admission", "active"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&there.services).await.unwrap();
    }
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("active") {
        let message = ws.next_json().await;
        statuses.push(message["payload"]["status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses,
        ["requested", "joining", "awaiting_admission", "active"]
    );
}
