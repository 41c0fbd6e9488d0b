//! The delivery log's retention: what ended WEBHOOKS_RETENTION_DAYS ago goes, with the events no
//! delivery refers to any more; what is pending stays however old.

use std::time::Duration;

use serde_json::json;
use switchboard::jobs::{JobState, NewJob};
use switchboard::meetings::BotStatus;
use switchboard::webhooks::PURGE_KIND;

use super::receiver::Receiver;
use super::{deliveries, deliveries_when, endpoint, move_bot};
use crate::common::scene::Scene;
use crate::common::TestApp;

/// Makes every delivery and event so far look `days` old.
async fn age_everything(app: &TestApp, days: i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let backend = db.get_database_backend();
    let then = app.services.clock.now() - chrono::Duration::days(days);
    for sql in [
        "UPDATE webhook_deliveries SET updated_at = $1",
        "UPDATE webhook_events SET created_at = $1",
    ] {
        let sql = switchboard::db::placeholders(backend, sql);
        db.execute_raw(Statement::from_sql_and_values(backend, sql, [then.into()]))
            .await
            .unwrap();
    }
}

/// Runs the sweep as the hourly schedule would, and waits for it.
async fn sweep(app: &TestApp) {
    let jobs = &app.services.jobs;
    let job = jobs
        .enqueue(NewJob::new(PURGE_KIND, json!({})).unwrap())
        .await
        .unwrap();
    for _ in 0..400 {
        if jobs.get(&job).await.unwrap().unwrap().state == JobState::Succeeded {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the sweep never finished");
}

async fn events(app: &TestApp) -> String {
    app.sql_text(
        "SELECT CAST(COUNT(*) AS TEXT) FROM webhook_events WHERE id <> $1",
        "",
    )
    .await
}

#[tokio::test]
async fn the_sweep_deletes_deliveries_ended_past_retention_and_their_events_but_keeps_pending_ones()
{
    let scene = Scene::new().await;
    let app = &scene.app;
    assert_eq!(app.services.config.webhooks.retention_days, 30);
    let ok = Receiver::start().await;
    let (delivered, _) = endpoint(app, "acme", &ok.url, &["BOT_STATUS_CHANGED"]).await;
    let refusing = Receiver::start().await;
    refusing.answer(&[400]);
    let (failed, _) = endpoint(app, "acme", &refusing.url, &["BOT_STATUS_CHANGED"]).await;

    // The first change: delivered to one endpoint, refused for good by the other.
    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    deliveries_when(app, "acme", &delivered, |l| l[0]["status"] == "DELIVERED").await;
    deliveries_when(app, "acme", &failed, |l| l[0]["status"] == "FAILED").await;
    // The second: delivered to both, and still being retried by a third endpoint.
    let down = Receiver::start().await;
    down.answer(&[503; 20]);
    let (pending, _) = endpoint(app, "acme", &down.url, &["BOT_STATUS_CHANGED"]).await;
    move_bot(app, &scene.bot, BotStatus::AwaitingAdmission).await;
    deliveries_when(app, "acme", &delivered, |l| {
        l.len() == 2 && l[0]["status"] == "DELIVERED"
    })
    .await;
    deliveries_when(app, "acme", &failed, |l| {
        l.len() == 2 && l[0]["status"] == "DELIVERED"
    })
    .await;
    deliveries_when(app, "acme", &pending, |l| l[0]["attempts"] == 1).await;
    age_everything(app, 31).await;
    // The third, today: delivered to the first endpoint.
    move_bot(app, &scene.bot, BotStatus::Connected).await;
    let today = deliveries_when(app, "acme", &delivered, |l| {
        l.len() == 3 && l[0]["status"] == "DELIVERED"
    })
    .await;
    assert_eq!(events(app).await, "3");

    sweep(app).await;
    // The first change's deliveries ended 31 days ago: gone, and its event with them.
    let kept = deliveries(app, "acme", &delivered).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["id"], today[0]["id"]);
    let kept = deliveries(app, "acme", &failed).await;
    assert_eq!(kept.len(), 1, "only today's: {kept:?}");
    // The second change's delivery still pending stays, and so does its event.
    let kept = deliveries(app, "acme", &pending).await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|d| d["status"] == "PENDING"));
    assert_eq!(events(app).await, "2");
}
