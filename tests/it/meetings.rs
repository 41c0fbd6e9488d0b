//! Meeting bots from trigger to Jira issues, against local fake bot-service, OpenAI and
//! Jira servers.

use std::time::Duration;

use crate::common::fakes::{Fakes, JiraIssues, BOT_SECRET};
use crate::common::{self, error_code, TestApp, WALK};
use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::meetings::sync::sync_once;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const MEET: &str = "https://meet.google.com/abc-defg-hij";

const TRIGGER: &str = "mutation($url: String!, $key: String) {
  triggerMeetingBot(input: {meetUrl: $url, botName: \"Scribe\", idempotencyKey: $key}) { id status platform nativeMeetingId }
}";

const STOP: &str = "mutation($id: ID!) { stopMeetingBot(id: $id) { status } }";

const BOT: &str = "query($id: ID!) { meetingBot(id: $id) {
  status errorMessage resultData summary
  statusHistory { sequence status source reason }
  transcript { sequence start end speaker text }
  tasks { title assignee jiraKey jiraUrl error }
} }";

async fn app_with(fakes: &Fakes) -> TestApp {
    app_with_and(fakes, |_| {}).await
}

/// An app talking to `fakes`, with `tweak` applied to its configuration.
async fn app_with_and(
    fakes: &Fakes,
    tweak: impl FnOnce(&mut switchboard::config::Config) + 'static,
) -> TestApp {
    app_on(&common::TestDb::new().await, fakes, tweak).await
}

/// As [`app_with_and`], on `db`, which other instances may share.
async fn app_on(
    db: &common::TestDb,
    fakes: &Fakes,
    tweak: impl FnOnce(&mut switchboard::config::Config) + 'static,
) -> TestApp {
    let configure = {
        let mut template =
            switchboard::config::Config::for_tests("sqlite::memory:", std::path::Path::new("."));
        fakes.configure(&mut template);
        template.providers
    };
    TestApp::builder()
        .db(db)
        .config(move |c| {
            c.providers = configure;
            c.meetings.pipeline_max_attempts = 3;
            tweak(c);
        })
        .spawn()
        .await
}

async fn trigger(app: &TestApp, token: &str, url: &str) -> Value {
    app.gql(Some(token), TRIGGER, json!({"url": url})).await
}

/// A manager of acme and the bot they sent into `MEET` (the bot service calls it `ext-1`).
struct Scene {
    fakes: Fakes,
    app: TestApp,
    token: String,
    bot: String,
}

async fn scene() -> Scene {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let bot = trigger_id(&app, &token, MEET).await;
    Scene {
        fakes,
        app,
        token,
        bot,
    }
}

/// The scene's bot (`ext-1` at the service) and a second one in another meeting (`ext-2`).
async fn scene_with_two_bots() -> (Scene, String) {
    let scene = scene().await;
    scene.fakes.bot_service_starts("ext-2").await;
    let second = trigger_id(&scene.app, &scene.token, "https://zoom.us/j/812345678").await;
    (scene, second)
}

async fn trigger_id(app: &TestApp, token: &str, url: &str) -> String {
    let response = trigger(app, token, url).await;
    response["data"]["triggerMeetingBot"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_string()
}

async fn bot(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(Some(token), BOT, json!({"id": id})).await["data"]["meetingBot"].clone()
}

/// `processMeetingAudio`: the recording at `url` handed over by hand.
async fn process_audio(app: &TestApp, token: &str, id: &str, url: &str) -> Value {
    let mutation = "mutation($id: ID!, $url: String!) { processMeetingAudio(input: {botId: $id, audioUrl: $url}) { status } }";
    app.gql(Some(token), mutation, json!({"id": id, "url": url}))
        .await
}

/// An app talking to `fakes`, a manager of acme (their token) and their bot (its id), whose
/// recording they handed over.
async fn recording_handed_over(fakes: &Fakes) -> (TestApp, String, String) {
    let app = app_with(fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    process_audio(&app, &token, &id, &fakes.audio_url()).await;
    (app, token, id)
}

/// Polls until the bot reaches `status` (the pipeline runs on the job worker).
async fn wait_for_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    for _ in 0..300 {
        let current = bot(app, token, id).await;
        if current["status"] == status {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("bot never became {status}: {}", bot(app, token, id).await);
}

fn statuses(bot: &Value) -> Vec<String> {
    bot["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

/// Walks the fake bot service through joining, the waiting room and the meeting, syncing
/// after each step, and ends the meeting with a recording.
async fn walk_through_meeting(app: &TestApp, fakes: &Fakes) {
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

#[tokio::test]
async fn the_whole_flow_over_the_seeds_rest_api() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with(&fakes).await;
    let token = app.token("user_789", "acme", Role::Manager);
    let client = reqwest::Client::new();

    let triggered: Value = client
        .post(app.url("/api/v1/meet/trigger"))
        .bearer_auth(&token)
        .json(&json!({"meet_url": MEET, "bot_name": "Tamir Bot"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(triggered["status"], "initialized");
    let bot_id = triggered["bot_id"].as_str().unwrap().to_string();
    assert!(triggered["message"].as_str().unwrap().contains(&bot_id));

    // The bot service hands the recording over, naming the bot by its own id.
    let body = json!({"user_id": "user_789", "bot_id": "ext-1", "audio_url": fakes.audio_url()});
    let refused = client
        .post(app.url("/api/v1/create-tasks-from-audio"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = client
        .post(app.url("/api/v1/create-tasks-from-audio"))
        .header("x-webhook-secret", BOT_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);

    let mut status = Value::Null;
    for _ in 0..300 {
        status = seed_status(&app, Some(&token), &bot_id)
            .await
            .json()
            .await
            .unwrap();
        if status["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status["status"], "done");
    assert_eq!(status["user_id"], "user_789");
    assert_eq!(status["result_data"]["tasks_created"], 2);
    assert!(status["created_at"].as_str().unwrap().ends_with('Z'));

    let missing = seed_status(&app, Some(&token), "nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "NOT_FOUND");
    let other_org = app.token("eve", "globex", Role::Admin);
    let hidden = seed_status(&app, Some(&other_org), &bot_id).await;
    assert_eq!(hidden.status(), 404);
    let anonymous = seed_status(&app, None, &bot_id).await;
    assert_eq!(anonymous.status(), 401);
}

/// The seed's `GET /api/v1/meet/status/{bot_id}`, as `token`'s bearer or anonymously.
async fn seed_status(app: &TestApp, token: Option<&str>, bot_id: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(&format!("/api/v1/meet/status/{bot_id}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The seed's done callback, signed with `secret` as the bot service signs it.
async fn signed_done_callback(app: &TestApp, secret: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/meet/callback/update-status"))
        .header(
            "x-signature-256",
            switchboard::auth::webhook::sign(secret, body.to_string().as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_seeds_done_callback_is_authenticated_and_marks_the_bot_done() {
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    let body = json!({"bot_id": "ext-1", "session_id": "session_abc", "result_data": {"tasks_created": 5, "summary": "Meeting processed successfully"}});

    let forged = signed_done_callback(&app, "wrong-secret", &body).await;
    assert_eq!(forged.status(), 401);
    assert_eq!(
        bot(&app, &token, &id).await["status"],
        "INITIALIZED",
        "nothing changed"
    );

    let signed = signed_done_callback(&app, BOT_SECRET, &body).await;
    assert_eq!(
        signed.json::<Value>().await.unwrap(),
        json!({"success": true, "message": "Status updated successfully"})
    );
    let done = bot(&app, &token, &id).await;
    assert_eq!(done["status"], "DONE");
    assert_eq!(done["resultData"]["tasks_created"], 5);
}

#[tokio::test]
async fn an_invalid_meeting_url_is_refused_and_nothing_is_created() {
    let fakes = Fakes::start().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    for url in [
        "https://example.com/abc-defg-hij",
        "meet.google.com/abc-defg-hij",
        "https://meet.google.com/abc",
    ] {
        let response = trigger(&app, &token, url).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{url}");
    }
    let listed = app
        .gql(
            Some(&token),
            "{ meetingBots { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["meetingBots"]["edges"], json!([]));
    assert!(
        fakes.bots.received_requests().await.unwrap().is_empty(),
        "the bot service was never asked"
    );
}

#[tokio::test]
async fn control_characters_and_credentials_in_input_are_refused_and_nul_ids_are_not_found() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    // Postgres cannot store U+0000, so each of these would otherwise fail inside the database.
    let named = |name: &str, key: Option<&str>| json!({"url": "https://meet.google.com/qqq-wwww-eee", "name": name, "key": key});
    for variables in [
        named("Scri\u{0}be", None),
        named("Scri\u{7}be", None),
        named("Scribe", Some("key\u{0}")),
        json!({"url": "https://ann:pw@meet.google.com/qqq-wwww-eee", "name": "Scribe", "key": null}),
    ] {
        let response = app
            .gql(
                Some(&token),
                "mutation($url: String!, $name: String!, $key: String) {
                   triggerMeetingBot(input: {meetUrl: $url, botName: $name, idempotencyKey: $key}) { id }
                 }",
                variables.clone(),
            )
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{variables}: {response}"
        );
    }
    let key = app
        .gql(
            Some(&app.admin("acme")),
            r#"mutation { createApiKey(name: "ci\u0000") { secret } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&key), "BAD_USER_INPUT", "{key}");

    for wanted in ["a\u{0}b", &format!("{id}\u{0}")] {
        let response = app.gql(Some(&token), BOT, json!({"id": wanted})).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    }
    let status = seed_status(&app, Some(&token), "a%00b").await;
    assert_eq!(status.status(), 404);

    let body = json!({"bot_id": "ext-1", "session_id": "sess\u{0}ion", "result_data": {"summary": "a\u{0}b"}});
    let callback = signed_done_callback(&app, BOT_SECRET, &body).await;
    assert_eq!(callback.status(), 422);
    let answer: Value = callback.json().await.unwrap();
    assert_eq!(answer["code"], "BAD_USER_INPUT", "{answer}");
    assert_eq!(
        bot(&app, &token, &id).await["status"],
        "INITIALIZED",
        "nothing changed"
    );
    assert_eq!(
        fakes.bots.received_requests().await.unwrap().len(),
        1,
        "only the scene's own bot was started"
    );
}

#[tokio::test]
async fn a_second_trigger_for_an_active_meeting_conflicts_unless_it_repeats_the_key() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let first = app
        .gql(Some(&token), TRIGGER, json!({"url": MEET, "key": "req-42"}))
        .await;
    let first_id = first["data"]["triggerMeetingBot"]["id"].clone();

    let again = app
        .gql(Some(&token), TRIGGER, json!({"url": MEET, "key": "req-42"}))
        .await;
    assert_eq!(again["data"]["triggerMeetingBot"]["id"], first_id);
    let elsewhere = app
        .gql(
            Some(&token),
            TRIGGER,
            json!({"url": "https://zoom.us/j/812345678", "key": "req-42"}),
        )
        .await;
    assert_eq!(
        error_code(&elsewhere),
        "CONFLICT",
        "a key reused for another meeting is not a replay: {elsewhere}"
    );
    let conflict = app.gql(Some(&token), TRIGGER, json!({"url": MEET})).await;
    assert_eq!(error_code(&conflict), "CONFLICT");
    // Another organisation may send its own bot to the same meeting.
    let other = app.token("eve", "globex", Role::Manager);
    fakes.bot_service_starts("ext-2").await;
    assert_eq!(
        trigger(&app, &other, MEET).await["data"]["triggerMeetingBot"]["status"],
        "INITIALIZED"
    );
}

#[tokio::test]
async fn another_organisation_cannot_read_stop_or_follow_a_bot_and_viewers_cannot_trigger() {
    let Scene {
        fakes: _fakes,
        app,
        token: _,
        bot: id,
    } = scene().await;
    let eve = app.token("eve", "globex", Role::Admin);

    let read = app.gql(Some(&eve), BOT, json!({"id": id})).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let stop = app.gql(Some(&eve), STOP, json!({"id": id})).await;
    assert_eq!(error_code(&stop), "NOT_FOUND");
    let listed = app
        .gql(
            Some(&eve),
            "{ meetingBots { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["meetingBots"]["edges"], json!([]));

    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": eve})).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { botStatus(botId: $id) { status } }", "variables": {"id": id}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    assert_eq!(refused["payload"]["data"], Value::Null);
    assert_eq!(ws.next_json().await["type"], "complete");

    let viewer = app.token("vic", "acme", Role::Viewer);
    let denied = trigger(&app, &viewer, "https://meet.google.com/xyz-abcd-efg").await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    assert_eq!(
        bot(&app, &viewer, &id).await["status"],
        "INITIALIZED",
        "viewers may read"
    );
}

/// [`WALK`] as the (sequence, status) pairs a `botStatus` subscriber receives.
fn walk_with_sequences() -> Vec<(i64, String)> {
    (1..).zip(WALK.iter().map(|s| s.to_string())).collect()
}

const FOLLOW: &str = "subscription($id: ID!, $after: Int) { botStatus(botId: $id, after: $after) { sequence status } }";

/// Subscribes and waits for the first event, so the subscription is live before the test
/// moves the bot on.
async fn subscribe(
    app: &TestApp,
    token: &str,
    id: &str,
    after: Option<i64>,
) -> (common::Ws, Vec<(i64, String)>) {
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
async fn read_until_complete(ws: &mut common::Ws, seen: Vec<(i64, String)>) -> Vec<(i64, String)> {
    read_field_until_complete(ws, seen, "botStatus", "status").await
}

/// Reads `next` frames of the `subscription` field until `complete`, after those already
/// `seen`; returns (sequence, `value`) pairs.
async fn read_field_until_complete(
    ws: &mut common::Ws,
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

#[tokio::test]
async fn subscribers_joining_mid_flow_or_resuming_see_every_status_once_in_order() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;

    let (mut from_start, from_start_seen) = subscribe(&app, &token, &id, None).await;
    // Two statuses in, a second subscriber arrives; a third reconnects after sequence 2.
    for state in ["joining", "awaiting_admission"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&app.services).await.unwrap();
    }
    let (mut mid_flow, mid_flow_seen) = subscribe(&app, &token, &id, None).await;
    let (mut resumed, resumed_seen) = subscribe(&app, &token, &id, Some(2)).await;
    fakes.bot_reports("ext-1", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();
    fakes
        .bot_reports(
            "ext-1",
            "completed",
            json!({"recording_url": fakes.audio_url()}),
        )
        .await;
    sync_once(&app.services).await.unwrap();

    let all = walk_with_sequences();
    assert_eq!(
        read_until_complete(&mut from_start, from_start_seen).await,
        all
    );
    assert_eq!(
        read_until_complete(&mut mid_flow, mid_flow_seen).await,
        all[2..],
        "current state first, then every change"
    );
    assert_eq!(
        read_until_complete(&mut resumed, resumed_seen).await,
        all[2..],
        "exactly what came after sequence 2"
    );
}

const TRANSCRIPT: &str = "subscription($id: ID!, $after: Int) { meetingTranscript(botId: $id, after: $after) { sequence speaker text } }";

/// A `meetingTranscript` subscription. One that cannot end at once (a transcript still to
/// come) is live when the subscription gauge counts it.
async fn follow_transcript(app: &TestApp, token: &str, id: &str, after: Option<i64>) -> common::Ws {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.authenticate(token).await;
    ws.send(json!({"id": "t", "type": "subscribe", "payload": {"query": TRANSCRIPT, "variables": {"id": id, "after": after}}})).await;
    ws
}

/// The (sequence, speaker) pairs received until `complete`.
async fn read_transcript_until_complete(ws: &mut common::Ws) -> Vec<(i64, String)> {
    read_field_until_complete(ws, Vec::new(), "meetingTranscript", "speaker").await
}

#[tokio::test]
async fn transcript_subscribers_see_every_segment_once_then_the_stream_ends() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    fakes.pipeline_succeeds().await;
    let mut early = follow_transcript(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;

    walk_through_meeting(&app, &fakes).await;
    wait_for_status(&app, &token, &id, "DONE").await;

    let whole = vec![(1, "Boris".to_string()), (2, "Chen".to_string())];
    assert_eq!(read_transcript_until_complete(&mut early).await, whole);
    let mut late = follow_transcript(&app, &token, &id, None).await;
    assert_eq!(
        read_transcript_until_complete(&mut late).await,
        whole,
        "a finished meeting's whole transcript, then the end"
    );
    let mut resumed = follow_transcript(&app, &token, &id, Some(1)).await;
    assert_eq!(
        read_transcript_until_complete(&mut resumed).await,
        whole[1..],
        "exactly what came after sequence 1"
    );
}

#[tokio::test]
async fn a_transcription_refusal_ends_in_error_naming_the_step() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"message": "Invalid file format.", "type": "invalid_request_error"}}),
        ))
        .mount(&fakes.openai)
        .await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    let mut transcript = follow_transcript(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;
    process_audio(&app, &token, &id, &fakes.audio_url()).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("transcription failed: transcription answered 400"),
        "{message}"
    );
    assert_eq!(
        read_transcript_until_complete(&mut transcript).await,
        [],
        "a transcript that will never come ends its subscribers' streams"
    );
    assert!(message.contains("Invalid file format"), "{message}");
    // A 400 is not retried.
    let uploads = fakes.openai.received_requests().await.unwrap().len();
    assert_eq!(uploads, 1);
}

#[tokio::test]
async fn nul_characters_in_providers_answers_are_dropped_before_they_are_stored() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "task": "transcribe", "duration": 3.0, "text": "Fix it.",
            "segments": [{"id": 0, "start": 0.0, "end": 3.0, "text": "Fix\u{0} it.", "speaker": "Bo\u{0}ris"}]
        })))
        .mount(&fakes.openai)
        .await;
    let content = json!({
        "summary": "One\u{0} fix.",
        "action_items": [{"title": "Fix\u{0} it", "description": "Now.", "assignee": null}]
    });
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}}]
        })))
        .mount(&fakes.openai)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/bulk"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "issues": [{"id": "1", "key": "OPS-1\u{0}", "self": format!("{}/rest/api/3/issue/1", fakes.jira.uri())}],
            "errors": []
        })))
        .mount(&fakes.jira)
        .await;
    let (app, token, id) = recording_handed_over(&fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["transcript"][0]["text"], "Fix it.");
    assert_eq!(done["transcript"][0]["speaker"], "Boris");
    assert_eq!(done["summary"], "One fix.");
    assert_eq!(done["tasks"][0]["title"], "Fix it");
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
}

#[tokio::test]
async fn a_callers_recording_url_must_be_public_while_the_bot_services_may_be_private() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with_and(&fakes, |c| c.meetings.audio_allow_private_hosts = false).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    // The fakes listen on 127.0.0.1: from a person, that is an address inside our network.
    for url in [
        fakes.audio_url(),
        "http://localhost:9/a.mp3".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
    ] {
        let response = process_audio(&app, &token, &id, &url).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{url}: {response}");
    }
    let rest = reqwest::Client::new()
        .post(app.url("/api/v1/create-tasks-from-audio"))
        .bearer_auth(&token)
        .json(&json!({"user_id": "ann", "bot_id": id, "audio_url": fakes.audio_url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 422);
    assert_eq!(bot(&app, &token, &id).await["status"], "INITIALIZED");

    // The bot service's own recording URL is trusted wherever it points.
    walk_through_meeting(&app, &fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["tasks"].as_array().unwrap().len(), 2, "{done}");
}

#[tokio::test]
async fn an_llm_that_keeps_failing_is_retried_then_the_bot_errors() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .mount(&fakes.openai)
        .await;
    let (app, token, id) = recording_handed_over(&fakes).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    assert_eq!(
        failed["errorMessage"],
        "meeting analysis failed: LLM answered 503: overloaded"
    );
    let requests = fakes.openai.received_requests().await.unwrap();
    let transcriptions = requests
        .iter()
        .filter(|r| r.url.path().ends_with("transcriptions"))
        .count();
    let chats = requests
        .iter()
        .filter(|r| r.url.path().ends_with("completions"))
        .count();
    assert_eq!(
        (transcriptions, chats),
        (1, 3),
        "three attempts, the finished transcription not repeated"
    );
    assert_eq!(statuses(&failed).last().unwrap(), "ERROR");
    assert!(statuses(&failed).contains(&"ANALYZING_MEETING".to_string()));
}

#[tokio::test]
async fn a_jira_429_is_waited_out_for_its_retry_after_then_succeeds() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    let (jira, _, done) = done_through_jira(&fakes, |_, bulk| {
        bulk.respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("Rate limit exceeded"),
        )
        .up_to_n_times(1)
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2, 2],
        "refused once, then sent again"
    );
    assert_eq!(jira.all().len(), 2);
    let openai = fakes.openai.received_requests().await.unwrap();
    assert_eq!(openai.len(), 2, "transcription and analysis ran once each");
}

/// How many issues a Jira bulk request asked for.
fn bulk_size(request: &wiremock::Request) -> usize {
    serde_json::from_slice::<Value>(&request.body).unwrap()["issueUpdates"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Hands a recording over and waits for DONE, against a Jira that makes what it is sent and
/// finds it by label, save that its bulk create first answers as `first` says (`bulk` is
/// that route's mock, mounted ahead). The issues Jira made, the bot's id and its final state.
async fn done_through_jira(
    fakes: &Fakes,
    first: impl FnOnce(&JiraIssues, wiremock::MockBuilder) -> Mock,
) -> (JiraIssues, String, Value) {
    let jira = JiraIssues::default();
    let bulk = Mock::given(method("POST")).and(path("/rest/api/3/issue/bulk"));
    first(&jira, bulk).with_priority(1).mount(&fakes.jira).await;
    fakes.jira_serves(&jira).await;
    let (app, token, id) = recording_handed_over(fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    (jira, id, done)
}

/// The size of each bulk create Jira received, in order.
async fn bulk_sizes(fakes: &Fakes) -> Vec<usize> {
    let requests = fakes.jira.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|request| request.url.path() == "/rest/api/3/issue/bulk")
        .map(bulk_size)
        .collect()
}

#[tokio::test]
async fn a_project_whose_screen_has_no_labels_still_gets_its_issues_unlabelled() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    let refusal = json!({"errorMessages": [], "errors": {"labels": "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown."}});
    let (jira, _, done) = done_through_jira(&fakes, |_, bulk| {
        bulk.and(|request: &wiremock::Request| {
            String::from_utf8_lossy(&request.body).contains(r#""labels""#)
        })
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "issues": [],
            "errors": [
                {"status": 400, "failedElementNumber": 0, "elementErrors": refusal},
                {"status": 400, "failedElementNumber": 1, "elementErrors": refusal}
            ]
        })))
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
    assert_eq!(done["tasks"][1]["error"], Value::Null);
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2, 2],
        "refused, then sent unlabelled"
    );
    assert!(jira.all().iter().all(|issue| issue.labels.is_empty()));
}

#[tokio::test]
async fn issues_jira_made_before_its_answer_was_lost_are_found_by_label_not_made_again() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    // Jira makes both issues, but a gateway times out before its answer comes back.
    let (jira, id, done) = done_through_jira(&fakes, |jira, bulk| {
        let made = jira.clone();
        bulk.respond_with(move |request: &wiremock::Request| {
            made.make(request);
            ResponseTemplate::new(504).set_body_string("Gateway Timeout")
        })
        .up_to_n_times(1)
    })
    .await;
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2],
        "the batch was not sent again"
    );
    let made = jira.all();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(
        made.iter()
            .all(|issue| issue.labels == [format!("switchboard-{id}")]),
        "every issue is labelled with its bot: {made:?}"
    );
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(done["tasks"][0]["title"], "Fix the flaky tests");
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
    assert_eq!(done["tasks"][1]["jiraKey"], "OPS-2");
    let searches = fakes.jira.received_requests().await.unwrap();
    let search = searches
        .iter()
        .find(|request| request.url.path() == "/rest/api/3/search/jql")
        .expect("the retry searched Jira first");
    let jql: String = search
        .url
        .query_pairs()
        .find(|(name, _)| name == "jql")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    assert_eq!(
        jql,
        format!("project = \"OPS\" AND labels = \"switchboard-{id}\" ORDER BY created ASC")
    );
}

#[tokio::test]
async fn issues_created_before_a_later_jira_batch_fails_are_not_created_again() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    let items: Vec<Value> = (1..=51)
        .map(|n| json!({"title": format!("Task {n}"), "description": "", "assignee": null}))
        .collect();
    fakes
        .llm_answers_with(json!({"summary": "A long list.", "action_items": items}))
        .await;
    // The second batch (the 51st task) meets an outage once, before Jira made anything.
    let (jira, _, done) = done_through_jira(&fakes, |_, bulk| {
        bulk.and(|request: &wiremock::Request| bulk_size(request) == 1)
            .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
            .up_to_n_times(1)
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 51);
    assert_eq!(done["tasks"][50]["jiraKey"], "OPS-51");
    assert_eq!(jira.all().len(), 51, "each task made once");
    let sizes = bulk_sizes(&fakes).await;
    assert_eq!(
        sizes,
        [50, 1, 1],
        "a batch of 50, then the 51st task failing once and sent again alone"
    );
}

#[tokio::test]
async fn jira_partial_failures_are_mapped_back_to_their_tasks() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/bulk"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "issues": [{"id": "10002", "key": "OPS-2", "self": "x"}],
            "errors": [{"status": 400, "failedElementNumber": 0,
                        "elementErrors": {"errorMessages": [], "errors": {"summary": "Summary is too long"}}}]
        })))
        .mount(&fakes.jira)
        .await;
    let (app, token, id) = recording_handed_over(&fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["tasks"][0]["jiraKey"], Value::Null);
    assert_eq!(done["tasks"][0]["error"], "summary: Summary is too long");
    assert_eq!(done["tasks"][1]["jiraKey"], "OPS-2");
    assert_eq!(done["resultData"]["tasks_created"], 1);
    assert_eq!(
        done["resultData"]["tasks_failed"][0]["summary"],
        "Fix the flaky tests"
    );
}

#[tokio::test]
async fn a_bot_service_that_cannot_start_the_bot_leaves_it_in_error() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/bots/start"))
        .respond_with(ResponseTemplate::new(500).set_body_string("no capacity"))
        .mount(&fakes.bots)
        .await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let response = trigger(&app, &token, MEET).await;
    assert_eq!(error_code(&response), "PROVIDER_ERROR");
    let listed = app
        .gql(
            Some(&token),
            "{ meetingBots(status: ERROR) { edges { node { errorMessage } } } }",
            json!({}),
        )
        .await;
    let message = listed["data"]["meetingBots"]["edges"][0]["node"]["errorMessage"]
        .as_str()
        .unwrap();
    assert!(message.contains("no capacity"), "{message}");
    // The meeting is free again for a new bot.
    fakes.bots.reset().await;
    fakes.bot_service_starts("ext-9").await;
    assert_eq!(
        trigger(&app, &token, MEET).await["data"]["triggerMeetingBot"]["status"],
        "INITIALIZED"
    );
}

#[tokio::test]
async fn a_transcription_may_take_longer_than_other_provider_calls() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes
        .pipeline_succeeds_transcribing_in(Duration::from_millis(2500))
        .await;
    let app = app_with_and(&fakes, |c| {
        c.providers.timeout_secs = 1;
        c.providers.transcription_timeout_secs = 10;
    })
    .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    walk_through_meeting(&app, &fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["transcript"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failure_reported_by_the_bot_service_ends_in_error_with_its_reason() {
    let scene = scene().await;
    let error = json!({"error": "meeting ended before the bot joined"});
    let failed = after_report(&scene, "failed", error).await;
    assert_error(&failed, "bot service: meeting ended before the bot joined");
}

#[tokio::test]
async fn a_recording_that_can_never_be_processed_ends_the_bot_in_error_with_why() {
    let scene = scene().await;
    after_report(&scene, "active", json!({})).await;
    let recording = json!({"recording_url": "ftp://recordings.example/standup.wav"});
    let failed = after_report(&scene, "completed", recording).await;
    assert_error(
        &failed,
        "the recording could not be processed: audioUrl must be an http(s) URL",
    );
}

/// The scene's bot as it stands once the service reported `state` (with `extra`) and a sync
/// ran.
async fn after_report(scene: &Scene, state: &str, extra: Value) -> Value {
    scene.fakes.bot_reports("ext-1", state, extra).await;
    sync_once(&scene.app.services).await.unwrap();
    bot(&scene.app, &scene.token, &scene.bot).await
}

fn assert_error(bot: &Value, message: &str) {
    assert_eq!(bot["status"], "ERROR", "{bot}");
    assert_eq!(bot["errorMessage"], message);
}

#[tokio::test]
async fn a_bot_whose_service_answers_slowly_does_not_hold_up_the_others_sync() {
    let (
        Scene {
            fakes,
            app,
            token,
            bot: slow,
        },
        quick,
    ) = scene_with_two_bots().await;
    Mock::given(method("GET"))
        .and(path("/bots/ext-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"bot_id": "ext-1", "status": "active"}))
                .set_delay(Duration::from_secs(20)),
        )
        .with_priority(1)
        .mount(&fakes.bots)
        .await;
    fakes.bot_reports("ext-2", "active", json!({})).await;

    // With sync off in tests, a tick's bound is its 1 s minimum.
    let started = std::time::Instant::now();
    let report = sync_once(&app.services).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the tick waited {:?} for the slow bot",
        started.elapsed()
    );
    assert_eq!((report.checked, report.failed), (2, 1));
    assert_eq!(bot(&app, &token, &quick).await["status"], "CONNECTED");
    assert_eq!(
        bot(&app, &token, &slow).await["status"],
        "INITIALIZED",
        "asked again next tick"
    );
}

#[tokio::test]
async fn bots_stuck_connecting_in_the_waiting_room_or_in_the_meeting_time_out_saying_which() {
    let (
        Scene {
            fakes,
            app,
            token,
            bot: first,
        },
        second,
    ) = scene_with_two_bots().await;
    fakes.bot_service_starts("ext-3").await;
    let third = trigger_id(&app, &token, "https://zoom.us/j/823456789").await;
    fakes.bot_reports("ext-1", "joining", json!({})).await;
    fakes
        .bot_reports("ext-2", "awaiting_admission", json!({}))
        .await;
    fakes.bot_reports("ext-3", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();

    // Age the bots past their limits (the meeting's is 6 hours).
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let old = chrono::Utc::now() - chrono::Duration::hours(7);
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        "UPDATE meeting_bots SET created_at = $1, status_changed_at = $1"
    } else {
        "UPDATE meeting_bots SET created_at = ?, status_changed_at = ?"
    };
    let values: Vec<sea_orm::Value> = if backend == sea_orm::DbBackend::Postgres {
        vec![old.into()]
    } else {
        vec![old.into(), old.into()]
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
    let report = sync_once(&app.services).await.unwrap();
    assert_eq!(report.timed_out, 3);

    let first = bot(&app, &token, &first).await;
    assert_eq!(first["status"], "ERROR");
    assert!(first["errorMessage"]
        .as_str()
        .unwrap()
        .starts_with("timed out connecting"));
    let second = bot(&app, &token, &second).await;
    assert!(second["errorMessage"]
        .as_str()
        .unwrap()
        .starts_with("timed out awaiting admission"));
    assert_eq!(
        second["statusHistory"].as_array().unwrap().last().unwrap()["source"],
        "SYSTEM"
    );
    assert_error(
        &bot(&app, &token, &third).await,
        "timed out in the meeting: still there 21600 s after joining",
    );
}

#[tokio::test]
async fn a_push_for_a_service_id_used_before_reaches_the_newest_bot() {
    let Scene {
        fakes,
        app,
        token,
        bot: last_week,
    } = scene().await;
    let done = json!({"bot_id": last_week, "session_id": "s-1", "result_data": {}});
    assert_eq!(
        signed_done_callback(&app, BOT_SECRET, &done).await.status(),
        200
    );
    // Vexa's bot id is the meeting's: a weekly meeting's next bot gets the same one.
    fakes.bot_service_starts("ext-1").await;
    let this_week = trigger_id(&app, &token, "https://zoom.us/j/812345678").await;

    let response = reqwest::Client::new()
        .post(app.url("/api/v1/meet/webhook"))
        .header("x-webhook-secret", BOT_SECRET)
        .body(json!({"bot_id": "ext-1", "status": "active"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(bot(&app, &token, &this_week).await["status"], "CONNECTED");
    assert_eq!(bot(&app, &token, &last_week).await["status"], "DONE");
}

#[tokio::test]
async fn an_out_of_order_report_never_moves_a_bot_backwards() {
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    let push = |status: &str| json!({"bot_id": "ext-1", "status": status}).to_string();
    let client = reqwest::Client::new();
    for status in ["active", "joining"] {
        let response = client
            .post(app.url("/api/v1/meet/webhook"))
            .header("x-webhook-secret", BOT_SECRET)
            .body(push(status))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let current = bot(&app, &token, &id).await;
    assert_eq!(current["status"], "CONNECTED");
    assert_eq!(
        statuses(&current),
        ["INITIALIZED", "CONNECTED"],
        "skipping forward is allowed, going back is not"
    );
    let unsigned = client
        .post(app.url("/api/v1/meet/webhook"))
        .body(push("failed"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.json::<Value>().await.unwrap()["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(bot(&app, &token, &id).await["status"], "CONNECTED");
}

#[tokio::test]
async fn stopping_a_bot_before_it_joins_finishes_it_and_tells_the_bot_service() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&fakes.bots)
        .await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(stopped["data"]["stopMeetingBot"]["status"], "DONE");
    let deletes = fakes
        .bots
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .count();
    assert_eq!(deletes, 1);
    let again = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(error_code(&again), "CONFLICT");
}

#[tokio::test]
async fn a_stop_the_service_fails_leaves_the_bot_but_one_it_no_longer_knows_finishes_it() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fakes.bots)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "Bot not found"})))
        .mount(&fakes.bots)
        .await;

    let failed = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(error_code(&failed), "PROVIDER_ERROR", "{failed}");
    assert_eq!(
        bot(&app, &token, &id).await["status"],
        "INITIALIZED",
        "nothing changes when the service could not be asked"
    );
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(
        stopped["data"]["stopMeetingBot"]["status"], "DONE",
        "{stopped}"
    );
}

#[tokio::test]
async fn the_retention_purge_is_scheduled_even_where_status_sync_is_off() {
    // Tests run with sync off (interval 0); the purge must not depend on it.
    let app = TestApp::spawn().await;
    assert_eq!(app.services.config.meetings.sync_interval_secs, 0);
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE kind = '{}' AND state = 'succeeded'",
        switchboard::meetings::sync::PURGE_KIND
    );
    let mut purged = 0;
    for _ in 0..200 {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), &sql))
            .await
            .unwrap()
            .unwrap();
        purged = row.try_get::<i64>("", "n").unwrap();
        if purged > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(purged, 1, "one purge, run at start-up");
}

#[tokio::test]
async fn the_retention_job_purges_old_bots_with_their_history() {
    let (
        Scene {
            fakes: _fakes,
            app,
            token,
            bot: old,
        },
        fresh,
    ) = scene_with_two_bots().await;
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        ("$1", "$2")
    } else {
        ("?", "?")
    };
    let long_ago = chrono::Utc::now() - chrono::Duration::days(31);
    for (column, id) in [
        ("created_at", &old),
        ("status_changed_at", &old),
        // Made long ago, but still moving: not old.
        ("created_at", &fresh),
    ] {
        let sql = format!(
            "UPDATE meeting_bots SET {column} = {} WHERE id = {}",
            placeholder.0, placeholder.1
        );
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            vec![long_ago.into(), id.clone().into()],
        ))
        .await
        .unwrap();
    }

    let job = app
        .services
        .jobs
        .enqueue(
            switchboard::jobs::NewJob::new(switchboard::meetings::sync::PURGE_KIND, json!({}))
                .unwrap(),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if app.services.jobs.get(&job).await.unwrap().unwrap().state == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        error_code(&app.gql(Some(&token), BOT, json!({"id": old})).await),
        "NOT_FOUND"
    );
    assert_eq!(bot(&app, &token, &fresh).await["status"], "INITIALIZED");
    let history = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM bot_status_changes WHERE bot_id = '{old}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.try_get::<i64>("", "n").unwrap(), 0);
}

#[tokio::test]
async fn bots_are_listed_newest_first_a_page_at_a_time() {
    let fakes = Fakes::start().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    for (n, url) in [
        "https://meet.google.com/aaa-aaaa-aaa",
        "https://meet.google.com/bbb-bbbb-bbb",
        "https://meet.google.com/ccc-cccc-ccc",
    ]
    .iter()
    .enumerate()
    {
        fakes.bot_service_starts(&format!("ext-{n}")).await;
        trigger(&app, &token, url).await;
    }
    let page = |after: Option<String>| {
        let app = &app;
        let token = token.clone();
        async move {
            app.gql(Some(&token), "query($after: String) { meetingBots(first: 2, after: $after) { edges { cursor node { nativeMeetingId } } pageInfo { hasNextPage } } }", json!({"after": after})).await
        }
    };
    let first = page(None).await;
    let edges = first["data"]["meetingBots"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["node"]["nativeMeetingId"], "ccc-cccc-ccc");
    assert_eq!(
        first["data"]["meetingBots"]["pageInfo"]["hasNextPage"],
        true
    );
    let second = page(edges[1]["cursor"].as_str().map(str::to_string)).await;
    assert_eq!(
        second["data"]["meetingBots"]["edges"][0]["node"]["nativeMeetingId"],
        "aaa-aaaa-aaa"
    );
    assert_eq!(
        second["data"]["meetingBots"]["pageInfo"]["hasNextPage"],
        false
    );
    // Each listed bot gets its own history, loaded for the whole page at once.
    let with_history = app
        .gql(Some(&token), "{ meetingBots { edges { node { nativeMeetingId statusHistory { sequence status } tasks { title } transcript { text } } } } }", json!({}))
        .await;
    let nodes = with_history["data"]["meetingBots"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(nodes.len(), 3);
    for node in nodes {
        assert_eq!(
            node["node"]["statusHistory"],
            json!([{"sequence": 1, "status": "INITIALIZED"}]),
            "{node}"
        );
        assert_eq!(node["node"]["tasks"], json!([]));
    }
    let bad = page(Some("not-a-cursor".into())).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn without_a_bot_service_triggering_says_not_configured() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Manager);
    assert_eq!(
        error_code(&trigger(&app, &token, MEET).await),
        "NOT_CONFIGURED"
    );
    let health = app
        .gql(None, "{ health { providers { name status } } }", json!({}))
        .await;
    assert_eq!(
        health["data"]["health"]["providers"][0],
        json!({"name": "botService", "status": "NOT_CONFIGURED"})
    );
}

/// An app whose bot service is Vexa, which answers a start with meeting record 17.
async fn vexa_app(fakes: &Fakes) -> TestApp {
    let app = app_with_and(fakes, |c| {
        c.providers.bot_service_kind = switchboard::config::BotServiceKind::Vexa
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/bots"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 17, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "requested"
        })))
        .mount(&fakes.bots)
        .await;
    app
}

#[tokio::test]
async fn the_vexa_adapter_starts_by_meeting_id_and_syncs_from_the_running_bots_list() {
    let fakes = Fakes::start().await;
    let app = vexa_app(&fakes).await;
    Mock::given(method("GET"))
        .and(path("/bots/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"running_bots": [
            // A container Vexa has no meeting record for: left out, not fatal to the list.
            {"container_id": "9e1", "platform": null, "native_meeting_id": null, "status": "Up 3 minutes"},
            {"platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "awaiting_admission"}
        ]})))
        .mount(&fakes.bots)
        .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    sync_once(&app.services).await.unwrap();
    assert_eq!(bot(&app, &token, &id).await["status"], "AWAITING_ADMISSION");

    let start = &fakes.bots.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&start.body).unwrap();
    assert_eq!(
        body,
        json!({"platform": "google_meet", "native_meeting_id": "abc-defg-hij", "bot_name": "Scribe"})
    );
    assert_eq!(start.headers["x-api-key"], BOT_SECRET);

    Mock::given(method("DELETE"))
        .and(path("/bots/google_meet/abc-defg-hij"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&fakes.bots)
        .await;
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(stopped["data"]["stopMeetingBot"]["status"], "DONE");
}

/// Vexa's own shapes: `GET /bots/status` lists running containers ("Up 2 minutes"), and
/// the meeting record (`GET /meetings/17`) holds the bot's state: `records` are (listed as
/// running, the record's status and data), one a sync.
async fn vexa_bot_through(records: &[(bool, Value)]) -> Value {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = vexa_scene().await;
    vexa_reports(&fakes, &app, records, None).await;
    bot(&app, &token, &id).await
}

/// A manager of acme and the bot they sent into `MEET` through Vexa (meeting record 17).
async fn vexa_scene() -> Scene {
    let fakes = Fakes::start().await;
    let app = vexa_app(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let bot = trigger_id(&app, &token, MEET).await;
    Scene {
        fakes,
        app,
        token,
        bot,
    }
}

/// Syncs once for each of `records`, with Vexa serving `transcript` for the meeting.
async fn vexa_reports(
    fakes: &Fakes,
    app: &TestApp,
    records: &[(bool, Value)],
    transcript: Option<&Value>,
) {
    for (running, record) in records {
        fakes.bots.reset().await;
        let container = json!({
            "container_id": "3f2f9b1", "container_name": "vexa-bot-google_meet-17",
            "platform": "google_meet", "native_meeting_id": "abc-defg-hij",
            "status": "Up 2 minutes", "normalized_status": "Up",
            "labels": {"vexa.user_id": "1", "vexa.meeting_id": "17"}, "meeting_id_from_name": "17"
        });
        let listed = if *running { vec![container] } else { vec![] };
        Mock::given(method("GET"))
            .and(path("/bots/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"running_bots": listed})))
            .mount(&fakes.bots)
            .await;
        let mut meeting = json!({"id": 17, "user_id": 1, "platform": "google_meet",
            "native_meeting_id": "abc-defg-hij", "constructed_meeting_url": MEET});
        meeting
            .as_object_mut()
            .unwrap()
            .extend(record.as_object().unwrap().clone());
        Mock::given(method("GET"))
            .and(path("/meetings/17"))
            .respond_with(ResponseTemplate::new(200).set_body_json(meeting))
            .mount(&fakes.bots)
            .await;
        if let Some(transcript) = transcript {
            Mock::given(method("GET"))
                .and(path("/transcripts/google_meet/abc-defg-hij"))
                .and(wiremock::matchers::query_param("meeting_id", "17"))
                .respond_with(ResponseTemplate::new(200).set_body_json(transcript))
                .mount(&fakes.bots)
                .await;
        }
        sync_once(&app.services).await.unwrap();
    }
}

#[tokio::test]
async fn a_vexa_bot_that_failed_and_left_the_running_list_ends_in_error_with_its_reason() {
    let failed = vexa_bot_through(&[
        (true, json!({"status": "awaiting_admission", "data": {}})),
        (false, json!({"status": "failed", "data": {"failure_reason": "admission rejected by the host"}})),
    ])
    .await;
    assert_eq!(
        statuses(&failed),
        ["INITIALIZED", "AWAITING_ADMISSION", "ERROR"],
        "the state came from the meeting record, not the container's \"Up 2 minutes\""
    );
    assert_error(&failed, "bot service: admission rejected by the host");
}

#[tokio::test]
async fn a_vexa_meeting_completed_without_a_recording_is_done_saying_how_it_ended() {
    let done = vexa_bot_through(&[
        (true, json!({"status": "active", "data": {}})),
        (
            false,
            json!({"status": "completed", "data": {"completion_reason": "left_alone"}}),
        ),
    ])
    .await;
    assert_eq!(statuses(&done), ["INITIALIZED", "CONNECTED", "DONE"]);
    assert_eq!(
        done["statusHistory"][2]["reason"],
        "the meeting ended with no recording (left_alone)"
    );
}

#[tokio::test]
async fn vexa_webhook_events_move_the_bot_of_their_meeting_record() {
    let fakes = Fakes::start().await;
    let app = vexa_app(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    let push = |credential: &str, event: Value| {
        reqwest::Client::new()
            .post(app.url("/api/v1/meet/webhook"))
            .bearer_auth(credential)
            .json(&event)
            .send()
    };
    let meeting = |status: &str, data: Value| {
        json!({"event_type": "meeting.status_change", "meeting": {
            "id": 17, "user_id": 1, "platform": "google_meet", "native_meeting_id": "abc-defg-hij",
            "constructed_meeting_url": MEET, "status": status, "data": data
        }})
    };

    let forged = push("not-the-secret", meeting("active", json!({})))
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let active = push(BOT_SECRET, meeting("active", json!({})))
        .await
        .unwrap();
    assert_eq!(active.status(), 200);
    assert_eq!(bot(&app, &token, &id).await["status"], "CONNECTED");
    let other = push(
        BOT_SECRET,
        json!({"event_type": "recording.ready", "recording": {"id": 3}}),
    )
    .await
    .unwrap();
    assert_eq!(
        other.status(),
        200,
        "an event with no meeting is acknowledged"
    );
    let again = push(BOT_SECRET, meeting("active", json!({})))
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "a repeated event changes nothing");
    let failed = push(
        BOT_SECRET,
        meeting(
            "failed",
            json!({"failure_reason": "the bot was removed by the host"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(failed.status(), 200);

    let failed = bot(&app, &token, &id).await;
    assert_eq!(statuses(&failed), ["INITIALIZED", "CONNECTED", "ERROR"]);
    assert_error(&failed, "bot service: the bot was removed by the host");
    assert_eq!(failed["statusHistory"][2]["source"], "WEBHOOK");
}

#[tokio::test]
async fn bots_the_service_names_alike_each_get_their_own_answer() {
    // Vexa names a bot by its meeting; two organisations' bots in one meeting share the name
    // and differ by their meeting records, 17 and 18.
    let fakes = Fakes::start().await;
    let app = app_with_and(&fakes, |c| {
        c.providers.bot_service_kind = switchboard::config::BotServiceKind::Vexa
    })
    .await;
    let next_record = std::sync::atomic::AtomicU64::new(17);
    Mock::given(method("POST"))
        .and(path("/bots"))
        .respond_with(move |_: &wiremock::Request| {
            let id = next_record.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ResponseTemplate::new(201).set_body_json(json!({
                "id": id, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "requested"
            }))
        })
        .mount(&fakes.bots)
        .await;
    Mock::given(method("GET"))
        .and(path("/bots/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"running_bots": []})))
        .mount(&fakes.bots)
        .await;
    for (record, status) in [(17, "active"), (18, "joining")] {
        Mock::given(method("GET"))
            .and(path(format!("/meetings/{record}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": record, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": status
            })))
            .mount(&fakes.bots)
            .await;
    }
    let acme = app.token("ann", "acme", Role::Manager);
    let globex = app.token("gil", "globex", Role::Manager);
    let acme_bot = trigger_id(&app, &acme, MEET).await;
    let globex_bot = trigger_id(&app, &globex, MEET).await;

    sync_once(&app.services).await.unwrap();
    assert_eq!(bot(&app, &acme, &acme_bot).await["status"], "CONNECTED");
    assert_eq!(
        bot(&app, &globex, &globex_bot).await["status"],
        "CONNECTING"
    );
}

#[tokio::test]
async fn only_one_instance_on_a_database_runs_the_status_sync() {
    let db = common::TestDb::new().await;
    let first = TestApp::builder().db(&db).spawn().await;
    let second = TestApp::builder().db(&db).spawn().await;
    let mut a = switchboard::meetings::sync::SyncLeader::new(&first.services);
    let mut b = switchboard::meetings::sync::SyncLeader::new(&second.services);
    assert!(a.lead().await);
    assert!(a.lead().await, "the leader keeps leading");
    if db.is_postgres() {
        assert!(!b.lead().await, "a second instance waits its turn");
        drop(a);
        let mut took_over = false;
        for _ in 0..50 {
            if b.lead().await {
                took_over = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(took_over, "the lock passes on when the leader goes");
    } else {
        assert!(
            b.lead().await,
            "SQLite has one instance, which always leads"
        );
    }
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

async fn wait_for_executions(app: &TestApp, wanted: i64) {
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

#[tokio::test]
async fn identical_subscriptions_share_one_execution_and_each_still_sees_every_status_once() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    fakes.pipeline_succeeds().await;
    // Five dashboards of the same organisation and role, same document and variables.
    let mut followers = Vec::new();
    for _ in 0..5 {
        followers.push(subscribe(&app, &token, &id, None).await);
    }
    wait_for_executions(&app, 1).await;
    for state in ["joining", "awaiting_admission", "active"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&app.services).await.unwrap();
    }
    // One more joins mid-flow: its own head (the current state), then the group's frames.
    followers.push(subscribe(&app, &token, &id, None).await);
    fakes
        .bot_reports(
            "ext-1",
            "completed",
            json!({"recording_url": fakes.audio_url()}),
        )
        .await;
    sync_once(&app.services).await.unwrap();

    let all = walk_with_sequences();
    let late = followers.pop().unwrap();
    for (mut ws, seen) in followers {
        assert_eq!(read_until_complete(&mut ws, seen).await, all);
    }
    let (mut ws, seen) = late;
    assert_eq!(
        read_until_complete(&mut ws, seen).await,
        all[3..],
        "the late subscriber starts at the state it joined in"
    );
    wait_for_executions(&app, 0).await;
}

#[tokio::test]
async fn another_organisation_following_a_followed_bot_gets_not_found() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = scene().await;
    let (_acme, seen) = subscribe(&app, &token, &id, None).await;
    assert_eq!(seen, vec![(1, "INITIALIZED".to_string())]);

    let intruder = app.token("eve", "globex", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": intruder})).await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id, "after": null}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "next");
    assert!(refused["payload"]["data"].is_null(), "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(ws.next_json().await["type"], "complete");
}

#[tokio::test]
async fn a_subscriber_leaving_stops_its_execution() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = scene().await;
    let (first, _) = subscribe(&app, &token, &id, None).await;
    let (second, _) = subscribe(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;
    drop(first);
    drop(second);
    wait_for_executions(&app, 0).await;
}

#[tokio::test]
async fn a_second_subscribe_with_an_id_still_open_closes_the_websocket_with_4409() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = scene().await;
    let (mut ws, _) = subscribe(&app, &token, &id, None).await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id}}})).await;
    match ws.next().await {
        common::Frame::Closed(code, reason) => {
            assert_eq!(code, 4409);
            assert_eq!(reason, "Subscriber for s already exists");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_status_change_answers_the_bot_exactly_as_a_later_read_finds_it() {
    use switchboard::meetings::service::{change_status, load, Transition};
    use switchboard::meetings::status::{BotStatus, ChangeSource};
    let Scene { app, bot: id, .. } = scene().await;
    let s = &app.services;

    let joining = Transition {
        session_id: Some("sess-9".into()),
        ..Transition::because("the bot service says joining")
    };
    let answered = change_status(s, &id, BotStatus::Connecting, ChangeSource::Sync, joining)
        .await
        .unwrap();
    assert_eq!(answered.session_id.as_deref(), Some("sess-9"));
    assert_eq!(answered, load(&s.db, &id).await.unwrap());

    let failed = Transition::failure("the bot was never admitted");
    let answered = change_status(s, &id, BotStatus::Error, ChangeSource::Sync, failed)
        .await
        .unwrap();
    assert_eq!(answered.status, BotStatus::Error.as_str());
    assert_eq!(answered.active_key, None, "a final bot frees its meeting");
    assert_eq!(answered, load(&s.db, &id).await.unwrap());
}

#[tokio::test]
async fn stopping_one_of_two_operations_on_a_socket_ends_only_that_one_and_frees_its_id() {
    use switchboard::meetings::service::{change_status, Transition};
    use switchboard::meetings::status::{BotStatus, ChangeSource};
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = scene().await;
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
    } = scene().await;
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

/// The seed's bot service, signing nothing: its shared secret in `x-webhook-secret`.
async fn seed_hands_over_recording(app: &TestApp, fakes: &Fakes, external_id: &str) -> u16 {
    let body = json!({"user_id": "ann", "bot_id": external_id, "audio_url": fakes.audio_url()});
    reqwest::Client::new()
        .post(app.url("/api/v1/create-tasks-from-audio"))
        .header("x-webhook-secret", BOT_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_seed_bot_whose_meeting_ended_waits_for_the_recording_its_service_hands_over_after() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    fakes.pipeline_succeeds().await;
    fakes.bot_reports("ext-1", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();
    fakes.bot_reports("ext-1", "completed", json!({})).await;
    sync_once(&app.services).await.unwrap();
    sync_once(&app.services).await.unwrap();
    assert_eq!(
        bot(&app, &token, &id).await["status"],
        "CONNECTED",
        "the seed's service says the meeting is over before it calls back with the recording"
    );

    assert_eq!(seed_hands_over_recording(&app, &fakes, "ext-1").await, 200);
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["tasks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_seed_bot_whose_recording_never_comes_is_done_once_the_grace_has_passed() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = app_with_and(&fakes, |c| c.meetings.recording_grace_secs = 1).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    fakes.bot_reports("ext-1", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();
    fakes.bot_reports("ext-1", "completed", json!({})).await;
    sync_once(&app.services).await.unwrap();
    assert_eq!(bot(&app, &token, &id).await["status"], "CONNECTED");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    sync_once(&app.services).await.unwrap();
    let done = bot(&app, &token, &id).await;
    assert_eq!(done["status"], "DONE");
    let last = done["statusHistory"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["reason"],
        "the meeting ended and no recording came within 1 s"
    );
}

#[tokio::test]
async fn a_change_decided_on_a_bot_that_has_moved_on_since_is_not_applied() {
    use switchboard::meetings::service::{self, Transition};
    use switchboard::meetings::{BotStatus, ChangeSource};
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    // A timeout is decided on the bot as read while it was still connecting ...
    let read_before = service::load(&app.services.db, &id).await.unwrap();
    // ... and the bot joins before the decision is applied.
    fakes.bot_reports("ext-1", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();
    let applied = service::change_status_from(
        &app.services,
        &read_before,
        BotStatus::Error,
        ChangeSource::System,
        &Transition::failure("timed out connecting"),
    )
    .await
    .unwrap();
    assert!(
        applied.is_none(),
        "a stale decision reports that it was not applied"
    );
    let now = bot(&app, &token, &id).await;
    assert_eq!(now["status"], "CONNECTED");
    assert!(now["errorMessage"].is_null());
}

#[tokio::test]
async fn a_bot_stopped_while_its_service_is_still_starting_it_is_told_to_leave_once_started() {
    use sea_orm::EntityTrait;
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/bots/start"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"bot_id": "ext-1", "status": "initialized"}))
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&fakes.bots)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&fakes.bots)
        .await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let triggering = {
        let (url, token) = (app.url("/graphql"), token.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"query": TRIGGER, "variables": {"url": MEET}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let mut stored = None;
    for _ in 0..200 {
        stored = switchboard::meetings::entity::bot::Entity::find()
            .one(&app.services.db)
            .await
            .unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = stored
        .expect("the bot is stored before the service answers")
        .id;
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(stopped["data"]["stopMeetingBot"]["status"], "DONE");

    let triggered = triggering.await.unwrap();
    assert_eq!(triggered["data"]["triggerMeetingBot"]["status"], "DONE");
    let deletes = fakes
        .bots
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE" && r.url.path() == "/bots/ext-1")
        .count();
    assert_eq!(deletes, 1, "the bot the service started is told to leave");
    assert_eq!(bot(&app, &token, &id).await["status"], "DONE");
}

#[tokio::test]
async fn following_from_beyond_the_latest_change_is_refused_and_from_the_final_one_ends_at_once() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    let mut ws = refused_from_beyond(&app, &token, FOLLOW, &id, 5).await;
    assert_eq!(ws.next_json().await["type"], "complete");

    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&fakes.bots)
        .await;
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(stopped["data"]["stopMeetingBot"]["status"], "DONE");
    ws.send(json!({"id": "seen-all", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id, "after": 2}}})).await;
    let ended = ws.next_json().await;
    assert_eq!(
        (ended["type"].as_str(), ended["id"].as_str()),
        (Some("complete"), Some("seen-all")),
        "nothing can follow the DONE the client has seen: {ended}"
    );
}

#[tokio::test]
async fn a_pipeline_abandoned_on_its_last_attempt_ends_the_bot_in_error_naming_the_step() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let db = common::TestDb::new().await;
    // This instance runs no jobs: the pipeline it queues is left as a crashed worker's.
    let queued_here = app_on(&db, &fakes, |c| c.jobs.disabled = true).await;
    let token = queued_here.token("ann", "acme", Role::Manager);
    let id = trigger_id(&queued_here, &token, MEET).await;
    let handed = process_audio(&queued_here, &token, &id, &fakes.audio_url()).await;
    assert_eq!(
        handed["data"]["processMeetingAudio"]["status"],
        "TRANSCRIBING"
    );
    let sql = "UPDATE jobs SET state = 'running', locked_by = 'gone', locked_at = 0, \
               attempts = max_attempts WHERE kind = 'meetings.pipeline'";
    db_execute(&queued_here, sql).await;

    let rescuer = app_on(&db, &fakes, |c| c.jobs.lease_secs = 1).await;
    let failed = wait_for_status(&rescuer, &token, &id, "ERROR").await;
    assert_eq!(
        failed["errorMessage"],
        "transcription failed: abandoned by its worker on the last attempt"
    );
}

async fn db_execute(app: &TestApp, sql: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_person_handing_a_recording_over_by_rest_may_write_the_bot_id_in_capitals() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with_and(&fakes, |c| c.meetings.audio_allow_private_hosts = true).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/create-tasks-from-audio"))
        .bearer_auth(&token)
        .json(
            &json!({"user_id": "ann", "bot_id": id.to_uppercase(), "audio_url": fakes.audio_url()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["bot_id"], id.as_str());
    assert_eq!(started["status"], "transcribing");
}

#[tokio::test]
async fn the_seeds_done_callback_while_the_recording_is_processed_leaves_the_bot_to_the_pipeline() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes
        .pipeline_succeeds_transcribing_in(Duration::from_millis(500))
        .await;
    let (app, token, id) = recording_handed_over(&fakes).await;
    assert_eq!(bot(&app, &token, &id).await["status"], "TRANSCRIBING");

    // As seed 000 lets the service do after handing the recording over.
    let body = json!({"bot_id": "ext-1", "result_data": {"tasks_created": 5, "summary": "Meeting processed successfully"}});
    let answered = signed_done_callback(&app, BOT_SECRET, &body).await;
    assert_eq!(answered.status(), 200);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["status"], "transcribing");
    assert_eq!(bot(&app, &token, &id).await["status"], "TRANSCRIBING");

    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(
        done["resultData"]["tasks_created"], 2,
        "the pipeline's own issues"
    );
    assert_eq!(done["resultData"]["issues"][0]["key"], "OPS-1");
}

/// A manager's token of acme that is still accepted now (within the 30 s leeway for clock
/// skew) and no longer a second or two from now.
fn token_about_to_expire(app: &TestApp) -> String {
    app.services
        .jwt
        .issue("ann", Some("acme"), Role::Manager, -29)
        .unwrap()
}

/// A scene whose keep-alive (and so credential re-check) comes every second.
async fn scene_checking_every_second() -> Scene {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = app_with_and(&fakes, |c| c.graphql.keep_alive_secs = 1).await;
    let token = app.token("ann", "acme", Role::Manager);
    let bot = trigger_id(&app, &token, MEET).await;
    Scene {
        fakes,
        app,
        token,
        bot,
    }
}

/// The server closes `ws` with 4403 within a few keep-alives (pings alone do not count),
/// saying `why`.
async fn assert_closed_as_forbidden(ws: &mut common::Ws, why: &str) {
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the server closes the socket within a few keep-alives");
    match frame {
        common::Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains(why), "{reason}");
        }
        other => panic!("expected the socket closed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_whose_token_expires_is_closed_with_4403_while_it_follows_a_bot() {
    let Scene { app, bot: id, .. } = scene_checking_every_second().await;
    let (mut ws, seen) = subscribe(&app, &token_about_to_expire(&app), &id, None).await;
    assert_eq!(seen, vec![(1, "INITIALIZED".to_string())]);
    assert_closed_as_forbidden(&mut ws, "expired").await;
}

#[tokio::test]
async fn a_websocket_whose_api_key_is_revoked_is_closed_with_4403() {
    let Scene { app, bot: id, .. } = scene_checking_every_second().await;
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

#[tokio::test]
async fn an_sse_stream_whose_token_expires_ends_with_unauthenticated() {
    let Scene { app, bot: id, .. } = scene_checking_every_second().await;
    let body = json!({"query": FOLLOW, "variables": {"id": id}});
    let response = reqwest::Client::new()
        .post(app.url("/graphql/sse"))
        .bearer_auth(token_about_to_expire(&app))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends once the token has expired")
        .unwrap();
    let events: Vec<(&str, &str)> = stream
        .split("\n\n")
        .filter_map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("");
            Some((name, data))
        })
        .collect();
    assert_eq!(events.len(), 3, "{stream}");
    assert!(events[0].1.contains("INITIALIZED"), "{stream}");
    let refusal: Value = serde_json::from_str(events[1].1).unwrap();
    assert_eq!(
        refusal["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(events[2].0, "complete");
}

#[tokio::test]
async fn a_vexa_bot_for_a_zoom_link_is_given_the_links_passcode() {
    let fakes = Fakes::start().await;
    let app = vexa_app(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    trigger_id(
        &app,
        &token,
        "https://us02web.zoom.us/j/81234567890?pwd=Zx81k",
    )
    .await;
    let start = &fakes.bots.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&start.body).unwrap();
    assert_eq!(
        body,
        json!({"platform": "zoom", "native_meeting_id": "81234567890", "bot_name": "Scribe", "passcode": "Zx81k"})
    );
}

#[tokio::test]
async fn a_seed_status_answer_that_does_not_repeat_the_bot_id_is_still_applied() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = scene().await;
    Mock::given(method("GET"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "connected"})))
        .mount(&fakes.bots)
        .await;
    sync_once(&app.services).await.unwrap();
    assert_eq!(bot(&app, &token, &id).await["status"], "CONNECTED");
}

/// The requests the fake transcription API received, in order.
async fn transcription_uploads(fakes: &Fakes) -> Vec<wiremock::Request> {
    let requests = fakes.openai.received_requests().await.unwrap();
    requests
        .into_iter()
        .filter(|r| r.url.path() == "/v1/audio/transcriptions")
        .collect()
}

/// `secs` seconds of a 440 Hz tone, as a 16 kHz mono 16-bit PCM WAV file.
fn tone_wav(secs: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let samples: Vec<u8> = (0..rate * secs)
        .flat_map(|n| {
            let phase = n as f64 * 440.0 * std::f64::consts::TAU / rate as f64;
            ((phase.sin() * 8000.0) as i16).to_le_bytes()
        })
        .collect();
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for field in [16u32, 1 | (1 << 16), rate, rate * 2, 2 | (16 << 16)] {
        wav.extend_from_slice(&field.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    wav
}

/// The fake file server also serves six seconds of tone (192 kB) at `/recordings/long.wav`.
async fn long_recording(fakes: &Fakes) -> String {
    Mock::given(method("GET"))
        .and(path("/recordings/long.wav"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(tone_wav(6))
                .insert_header("content-type", "audio/wav"),
        )
        .mount(&fakes.files)
        .await;
    format!("{}/recordings/long.wav", fakes.files.uri())
}

#[tokio::test]
async fn a_recording_over_the_upload_limit_is_made_smaller_by_ffmpeg_and_sent_in_parts() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let url = long_recording(&fakes).await;
    // Each part says it lasts 2.25 s, as ffmpeg cuts them: its times follow the parts before.
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "task": "transcribe", "language": "english", "duration": 2.25, "text": "Boris will fix it.",
            "segments": [{"id": 0, "start": 0.5, "end": 2.0, "text": " Boris will fix it.", "speaker": "Boris"}]
        })))
        .mount(&fakes.openai)
        .await;
    fakes.llm_answers().await;
    fakes.jira_creates().await;
    // 10 kB: at 4 kB a second, parts of 2.25 s.
    let app = app_with_and(&fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000
    })
    .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    process_audio(&app, &token, &id, &url).await;

    let done = wait_for_status(&app, &token, &id, "DONE").await;
    let starts: Vec<f64> = done["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![0.5, 2.75, 5.0],
        "three parts, each moved by those before"
    );
    let speakers: Vec<&str> = done["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert_eq!(
        speakers,
        ["Boris (part 1)", "Boris (part 2)", "Boris (part 3)"],
        "each part names its speakers afresh"
    );
    let uploads = transcription_uploads(&fakes).await;
    assert_eq!(uploads.len(), 3);
    for (n, upload) in uploads.iter().enumerate() {
        let body = String::from_utf8_lossy(&upload.body);
        assert!(
            body.contains(&format!("filename=\"part-{n:04}.mp3\"")),
            "part {n}"
        );
        assert!(
            upload.body.len() < 10_000 + 1_000,
            "part {n} is {} bytes",
            upload.body.len()
        );
    }
}

#[tokio::test]
async fn a_recording_over_the_upload_limit_without_ffmpeg_ends_in_error_saying_so() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let url = long_recording(&fakes).await;
    fakes.pipeline_succeeds().await;
    let app = app_with_and(&fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000;
        c.meetings.ffmpeg_path = "/nonexistent/ffmpeg".into();
    })
    .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    process_audio(&app, &token, &id, &url).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("transcription failed"), "{message}");
    assert!(message.contains("ffmpeg"), "{message}");
}

#[tokio::test]
async fn a_recording_over_the_download_limit_is_refused_without_being_transcribed() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    let app = app_with_and(&fakes, |c| c.meetings.audio_max_bytes = 1_000).await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    process_audio(&app, &token, &id, &fakes.audio_url()).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(message.contains("larger than 1000 bytes"), "{message}");
    assert!(transcription_uploads(&fakes).await.is_empty());
}

/// The whole flow with `model` transcribing, the fake answering only a request that asks for
/// `format` (as OpenAI refuses the others for that model) with `answer`; the transcript.
async fn transcribed_by(model: &'static str, format: &str, answer: Value) -> Value {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .and({
            // The body holds MP3 bytes, so it is searched as bytes, not as text.
            let field = format!("name=\"response_format\"\r\n\r\n{format}\r\n").into_bytes();
            move |request: &wiremock::Request| {
                request
                    .body
                    .windows(field.len())
                    .any(|window| window == field.as_slice())
            }
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&fakes.openai)
        .await;
    fakes.llm_answers().await;
    fakes.jira_creates().await;
    // Real audio: these models take at most about 25 minutes, so ffmpeg sees every recording.
    let url = long_recording(&fakes).await;
    let app = app_with_and(&fakes, move |c| {
        c.providers.transcription_model = model.into()
    })
    .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    process_audio(&app, &token, &id, &url).await;
    wait_for_status(&app, &token, &id, "DONE").await["transcript"].clone()
}

#[tokio::test]
async fn a_diarizing_model_is_asked_for_diarized_json_and_its_speakers_are_kept() {
    let transcript = transcribed_by(
        "gpt-4o-transcribe-diarize",
        "diarized_json",
        json!({
            "task": "transcribe", "duration": 12.0, "text": "I will fix the tests. I will write the notes.",
            "segments": [
                {"type": "transcript.text.segment", "id": "seg_0", "start": 0.0, "end": 5.0, "text": "I will fix the tests.", "speaker": "A"},
                {"type": "transcript.text.segment", "id": "seg_1", "start": 5.0, "end": 12.0, "text": "I will write the notes.", "speaker": "B"}
            ],
            "usage": {"type": "duration", "seconds": 12}
        }),
    )
    .await;
    let speakers: Vec<&str> = transcript
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert_eq!(speakers, ["A", "B"]);
}

#[tokio::test]
async fn a_model_that_answers_only_json_gives_its_text_as_one_segment() {
    let transcript = transcribed_by(
        "gpt-4o-mini-transcribe",
        "json",
        json!({"text": "Boris will fix the tests.", "usage": {"type": "tokens", "total_tokens": 40}}),
    )
    .await;
    assert_eq!(transcript.as_array().unwrap().len(), 1);
    assert_eq!(transcript[0]["text"], "Boris will fix the tests.");
}

#[tokio::test]
async fn a_vexa_meeting_over_goes_through_the_pipeline_from_vexas_own_transcript() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = vexa_scene().await;
    fakes.llm_answers().await;
    fakes.jira_creates().await;
    let transcript = json!({
        "id": 17, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "completed",
        "segments": [
            {"start": 0.4, "end": 4.9, "text": "I will fix the flaky tests.", "language": "en", "speaker": "Boris", "completed": true},
            {"start": 5.1, "end": 6.0, "text": "  ", "language": "en", "speaker": "Chen", "completed": true},
            {"start": 6.2, "end": 11.8, "text": "I will write the release notes.", "language": "en", "speaker": "Chen", "completed": true}
        ]
    });
    let records = [
        (true, json!({"status": "active", "data": {}})),
        (
            false,
            json!({"status": "completed", "data": {"completion_reason": "stopped"}}),
        ),
    ];
    vexa_reports(&fakes, &app, &records, Some(&transcript)).await;

    let done = wait_for_status(&app, &token, &id, "DONE").await;
    let said: Vec<(&str, &str)> = done["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["speaker"].as_str().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [
            ("Boris", "I will fix the flaky tests."),
            ("Chen", "I will write the release notes.")
        ]
    );
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert!(
        transcription_uploads(&fakes).await.is_empty(),
        "Vexa's transcript is not transcribed again"
    );
}

#[tokio::test]
async fn a_large_playlist_given_as_a_recording_never_has_ffmpeg_read_what_it_lists() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    fakes.pipeline_succeeds().await;
    // A media file on the server, which a playlist read by ffmpeg would have it open.
    let dir = std::env::temp_dir().join(format!("switchboard-local-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tone.wav"), tone_wav(2)).unwrap();
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(dir.join("tone.wav"))
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(dir.join("local.ts"))
        .status()
        .unwrap();
    assert!(made.success());
    let mut playlist = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:10\n");
    // Padded past the upload limit, so that it goes to ffmpeg.
    playlist.push_str(&"# padding\n".repeat(2_000));
    playlist.push_str(&format!(
        "#EXTINF:2,\n{}\n#EXT-X-ENDLIST\n",
        dir.join("local.ts").display()
    ));
    Mock::given(method("GET"))
        .and(path("/recordings/list.m3u8"))
        .respond_with(ResponseTemplate::new(200).set_body_string(playlist))
        .mount(&fakes.files)
        .await;
    let app = app_with_and(&fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000
    })
    .await;
    let token = app.token("ann", "acme", Role::Manager);
    let id = trigger_id(&app, &token, MEET).await;
    let url = format!("{}/recordings/list.m3u8", fakes.files.uri());
    process_audio(&app, &token, &id, &url).await;

    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("could not read the recording as audio"),
        "{message}"
    );
    assert!(!message.contains("recordings-in-progress"), "{message}");
    assert!(
        transcription_uploads(&fakes).await.is_empty(),
        "nothing of the server's own file was transcribed"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn following_a_transcript_from_beyond_its_last_segment_is_refused() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = scene().await;
    refused_from_beyond(&app, &token, TRANSCRIPT, &id, 3).await;
}

/// Subscribes to `query` for bot `id` from `after`, which must be refused as BAD_USER_INPUT;
/// the socket, still open.
async fn refused_from_beyond(
    app: &TestApp,
    token: &str,
    query: &str,
    id: &str,
    after: i64,
) -> common::Ws {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    ws.send(json!({"id": "ahead", "type": "subscribe", "payload": {"query": query, "variables": {"id": id, "after": after}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    ws
}
