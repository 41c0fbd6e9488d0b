//! The status sync, which asks the bot service how each bot is doing and times out the bots
//! that are stuck, and the retention job that purges old bots.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::meetings::sync_once;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::assert_error;
use crate::common::fakes::{Fakes, BOT_SECRET};
use crate::common::scene::{bot, trigger_id, wait_for_status, Scene, BOT};
use crate::common::{error_code, TestApp, TestDb};

#[tokio::test]
async fn a_failure_reported_by_the_bot_service_ends_in_error_with_its_reason() {
    let scene = Scene::new().await;
    let error = json!({"error": "meeting ended before the bot joined"});
    let failed = after_report(&scene, "failed", error).await;
    assert_error(&failed, "bot service: meeting ended before the bot joined");
}

#[tokio::test]
async fn a_recording_that_can_never_be_processed_ends_the_bot_in_error_with_why() {
    let scene = Scene::new().await;
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
    ) = Scene::with_two_bots().await;
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
    ) = Scene::with_two_bots().await;
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
async fn the_retention_purge_is_scheduled_even_where_status_sync_is_off() {
    // Tests run with sync off (interval 0); the purge must not depend on it.
    let app = TestApp::spawn().await;
    assert_eq!(app.services.config.meetings.sync_interval_secs, 0);
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE kind = '{}' AND state = 'succeeded'",
        switchboard::meetings::PURGE_KIND
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
    ) = Scene::with_two_bots().await;
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
            switchboard::jobs::NewJob::new(switchboard::meetings::PURGE_KIND, json!({})).unwrap(),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if app.services.jobs.get(&job).await.unwrap().unwrap().state
            == switchboard::jobs::JobState::Succeeded
        {
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
async fn only_one_instance_on_a_database_runs_the_status_sync() {
    let db = TestDb::new().await;
    let first = TestApp::builder().db(&db).spawn().await;
    let second = TestApp::builder().db(&db).spawn().await;
    let mut a = switchboard::meetings::SyncLeader::new(&first.services);
    let mut b = switchboard::meetings::SyncLeader::new(&second.services);
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
    } = Scene::new().await;
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
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(Fakes::start().await, |c| {
        c.meetings.recording_grace_secs = 1
    })
    .await;
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
async fn a_seed_status_answer_that_does_not_repeat_the_bot_id_is_still_applied() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    Mock::given(method("GET"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "connected"})))
        .mount(&fakes.bots)
        .await;
    sync_once(&app.services).await.unwrap();
    assert_eq!(bot(&app, &token, &id).await["status"], "CONNECTED");
}
