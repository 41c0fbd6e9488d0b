//! The pipeline that turns a recording into a transcript, a summary and issues: what it
//! keeps, what it refuses and how it fails.

use serde_json::json;
use switchboard::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{process_audio, recording_handed_over, walk_through_meeting};
use crate::common::fakes::Fakes;
use crate::common::scene::{app_on, bot, statuses, trigger_id, wait_for_status, Scene, MEET};
use crate::common::{error_code, TestApp, TestDb};

#[tokio::test]
async fn nul_characters_in_providers_answers_are_dropped_before_they_are_stored() {
    let fakes = Fakes::start().await;
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
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = recording_handed_over(fakes).await;
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
    fakes.pipeline_succeeds().await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| c.meetings.audio_allow_private_hosts = false).await;
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
    fakes.transcription_answers().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .mount(&fakes.openai)
        .await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = recording_handed_over(fakes).await;
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
async fn a_pipeline_abandoned_on_its_last_attempt_ends_the_bot_in_error_naming_the_step() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let db = TestDb::new().await;
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
