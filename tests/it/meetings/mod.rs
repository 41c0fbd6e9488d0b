//! Meeting bots from trigger to Jira issues, against local fake bot-service, OpenAI and
//! Jira servers.

mod jira;
mod pipeline;
mod rest;
mod service;
mod subscriptions;
mod sync;
mod transcription;
mod trigger;
mod vexa;
mod vexa_ws;

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::meetings::sync_once;

use crate::common::fakes::{Fakes, BOT_SECRET};
use crate::common::scene::{app_with, statuses, trigger, wait_for_status, Scene, MEET};
use crate::common::{TestApp, WALK};

/// `stopMeetingBot` for `$id`.
pub const STOP: &str = "mutation($id: ID!) { stopMeetingBot(id: $id) { status } }";

/// `processMeetingAudio`: the recording at `url` handed over by hand.
pub async fn process_audio(app: &TestApp, token: &str, id: &str, url: &str) -> Value {
    let mutation = "mutation($id: ID!, $url: String!) { processMeetingAudio(input: {botId: $id, audioUrl: $url}) { status } }";
    app.gql(Some(token), mutation, json!({"id": id, "url": url}))
        .await
}

/// The scene against `fakes`, the manager having handed their bot's recording over.
pub async fn recording_handed_over(fakes: Fakes) -> Scene {
    let scene = Scene::with(fakes).await;
    let recording = scene.fakes.audio_url();
    process_audio(&scene.app, &scene.token, &scene.bot, &recording).await;
    scene
}

/// Walks the fake bot service through joining, the waiting room and the meeting, syncing
/// after each step, and ends the meeting with a recording.
pub async fn walk_through_meeting(app: &TestApp, fakes: &Fakes) {
    for state in ["joining", "awaiting_admission", "active"] {
        fakes
            .bot_reports("ext-1", state, json!({"session_id": "sess-1"}))
            .await;
        sync_once(&app.services).await.unwrap();
    }
    fakes
        .bot_reports(
            "ext-1",
            "completed",
            json!({"recording_url": fakes.audio_url()}),
        )
        .await;
    sync_once(&app.services).await.unwrap();
}

/// The seed's `GET /api/v1/meet/status/{bot_id}`, as `token`'s bearer or anonymously.
pub async fn seed_status(app: &TestApp, token: Option<&str>, bot_id: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(&format!("/api/v1/meet/status/{bot_id}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The seed's done callback, signed with `secret` as the bot service signs it.
pub async fn signed_done_callback(app: &TestApp, secret: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/meet/callback/update-status"))
        .header(
            "x-signature-256",
            switchboard::auth::sign_webhook(secret, body.to_string().as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The bot ended in ERROR, saying `message`.
pub fn assert_error(bot: &Value, message: &str) {
    assert_eq!(bot["status"], "ERROR", "{bot}");
    assert_eq!(bot["errorMessage"], message);
}

/// The requests the fake transcription API received, in order.
pub async fn transcription_uploads(fakes: &Fakes) -> Vec<wiremock::Request> {
    let requests = fakes.openai.received_requests().await.unwrap();
    requests
        .into_iter()
        .filter(|r| r.url.path() == "/v1/audio/transcriptions")
        .collect()
}

#[tokio::test]
async fn the_whole_flow_over_graphql_ends_in_jira_issues() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);

    let created = trigger(&app, &token, MEET).await;
    let created = &created["data"]["triggerMeetingBot"];
    assert_eq!(created["status"], "INITIALIZED");
    assert_eq!(created["platform"], "GOOGLE_MEET");
    assert_eq!(created["nativeMeetingId"], "abc-defg-hij");
    let id = created["id"].as_str().unwrap().to_string();

    walk_through_meeting(&app, &fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;

    assert_eq!(statuses(&done), WALK);
    let sources: Vec<&str> = done["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["USER", "SYNC", "SYNC", "SYNC", "SYNC", "PIPELINE", "PIPELINE", "PIPELINE"]
    );
    assert_eq!(done["transcript"].as_array().unwrap().len(), 2);
    assert_eq!(done["transcript"][0]["speaker"], "Boris");
    assert_eq!(
        done["transcript"][1]["text"],
        "I will write the release notes."
    );
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
    assert_eq!(done["tasks"][1]["assignee"], "Chen");
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(
        done["resultData"]["summary"],
        "The team agreed on two fixes before the release."
    );
    assert_eq!(done["resultData"]["issues"][1]["key"], "OPS-2");
    assert_eq!(
        done["resultData"]["issues"][1]["url"],
        format!("{}/browse/OPS-2", fakes.jira.uri())
    );

    // The outside services were spoken to in their own shapes.
    let started = &fakes.bots.received_requests().await.unwrap()[0];
    let start_body: Value = serde_json::from_slice(&started.body).unwrap();
    assert_eq!(start_body["meet_url"], MEET);
    assert_eq!(started.headers["x-api-key"], BOT_SECRET);
    let openai = fakes.openai.received_requests().await.unwrap();
    let upload = openai
        .iter()
        .find(|r| r.url.path() == "/v1/audio/transcriptions")
        .unwrap();
    let form = String::from_utf8_lossy(&upload.body);
    assert!(
        form.contains("name=\"model\"")
            && form.contains("whisper-1")
            && form.contains("verbose_json")
    );
    assert_eq!(upload.headers["authorization"], "Bearer sk-test");
    let chat = openai
        .iter()
        .find(|r| r.url.path() == "/v1/chat/completions")
        .unwrap();
    let chat: Value = serde_json::from_slice(&chat.body).unwrap();
    assert_eq!(chat["response_format"]["type"], "json_object");
    assert!(chat["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("Boris: I will fix the flaky tests."));
    let jira = &fakes.jira.received_requests().await.unwrap()[0];
    let bulk: Value = serde_json::from_slice(&jira.body).unwrap();
    let fields = &bulk["issueUpdates"][0]["fields"];
    assert_eq!(fields["project"]["key"], "OPS");
    assert_eq!(fields["issuetype"]["name"], "Task");
    assert_eq!(fields["description"]["type"], "doc");
    assert!(jira.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
}
