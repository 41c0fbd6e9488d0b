//! The seed's REST routes, and the webhooks and callbacks by which the bot service reports.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Role;

use super::{recording_handed_over, seed_status, signed_done_callback};
use crate::common::fakes::{Fakes, BOT_SECRET};
use crate::common::scene::{app_with, bot, statuses, trigger_id, wait_for_status, Scene, MEET};

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

#[tokio::test]
async fn the_seeds_done_callback_is_authenticated_and_marks_the_bot_done() {
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
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
async fn a_push_for_a_service_id_used_before_reaches_the_newest_bot() {
    let Scene {
        fakes,
        app,
        token,
        bot: last_week,
    } = Scene::new().await;
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
    } = Scene::new().await;
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
async fn a_person_handing_a_recording_over_by_rest_may_write_the_bot_id_in_capitals() {
    let fakes = Fakes::start().await;
    fakes.pipeline_succeeds().await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| c.meetings.audio_allow_private_hosts = true).await;
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
    fakes
        .pipeline_succeeds_transcribing_in(Duration::from_millis(500))
        .await;
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = recording_handed_over(fakes).await;
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
