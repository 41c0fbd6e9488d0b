//! Stopping a bot, and how a status change is applied to the bot it was decided on.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::meetings::sync_once;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::STOP;
use crate::common::error_code;
use crate::common::fakes::Fakes;
use crate::common::scene::{app_with, bot, Scene, MEET, TRIGGER};

#[tokio::test]
async fn stopping_a_bot_before_it_joins_finishes_it_and_tells_the_bot_service() {
    let fakes = Fakes::start().await;
    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&fakes.bots)
        .await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::with(fakes).await;
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
    } = Scene::new().await;
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
async fn a_status_change_answers_the_bot_exactly_as_a_later_read_finds_it() {
    use switchboard::meetings::{change_status, load, Transition};
    use switchboard::meetings::{BotStatus, ChangeSource};
    let Scene { app, bot: id, .. } = Scene::new().await;
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
    assert_eq!(answered.status, BotStatus::Error);
    assert_eq!(answered.active_key, None, "a final bot frees its meeting");
    assert_eq!(answered, load(&s.db, &id).await.unwrap());
}

#[tokio::test]
async fn a_change_decided_on_a_bot_that_has_moved_on_since_is_not_applied() {
    use switchboard::meetings::{self as service, Transition};
    use switchboard::meetings::{BotStatus, ChangeSource};
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
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
