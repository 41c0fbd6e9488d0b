//! Deliveries: signed, retried, ordered, disabled, redelivered, kept to their organisation.

use std::time::Duration;

use chrono::Duration as Span;
use serde_json::json;
use switchboard::meetings::BotStatus;
use switchboard::webhooks::{self, EventType, Outgoing};

use super::receiver::{verifies, verifying, Receiver};
use super::{deliveries, deliveries_when, endpoint, move_bot, ENDPOINT};
use crate::common::scene::Scene;
use crate::common::TestApp;

#[tokio::test]
async fn a_status_change_is_delivered_signed_as_a_receiver_verifies_it() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;
    assert!(secret.starts_with("whsec_"));

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let received = receiver.wait_for(1).await;
    let delivery = &received[0];
    assert!(verifies(&secret, delivery), "{delivery:?}");
    let body = delivery.json();
    assert_eq!(body["id"], delivery.id.as_str());
    assert_eq!(body["type"], "bot.status_changed");
    assert_eq!(body["organisation"], "acme");
    assert_eq!(body["data"]["botId"], scene.bot.as_str());
    assert_eq!(body["data"]["status"], "CONNECTING");
    assert_eq!(body["data"]["previousStatus"], "INITIALIZED");
    assert!(body["timestamp"].is_string());
    // A body changed on the way verifies no more.
    let mut forged = delivery.clone();
    forged.body = String::from_utf8(delivery.body.clone())
        .unwrap()
        .replace("CONNECTING", "CONNECTED")
        .into_bytes();
    assert!(!verifies(&secret, &forged));

    let log = deliveries_when(app, "acme", &id, |log| log[0]["status"] == "DELIVERED").await;
    assert_eq!(log[0]["eventId"], delivery.id.as_str());
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], 200);
    assert_eq!(log[0]["responseExcerpt"], "thanks");
}

#[tokio::test]
async fn mid_rotation_a_delivery_carries_both_signatures_each_verifying_with_its_secret() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    let (id, old) = endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;
    let rotated = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }",
            json!({"id": id}),
        )
        .await;
    let new = rotated["data"]["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert!(
        rotated["data"]["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"].is_string()
    );

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let delivery = receiver.wait_for(1).await[0].clone();
    assert_eq!(
        delivery.signature.split(' ').count(),
        2,
        "{}",
        delivery.signature
    );
    assert_eq!(verifying(&new, &delivery), vec![0]);
    assert_eq!(verifying(&old, &delivery), vec![1]);

    // A day later the old secret signs no more.
    app.services.clock.advance(Span::hours(25));
    move_bot(app, &scene.bot, BotStatus::Connected).await;
    let later = receiver.wait_for(2).await[1].clone();
    assert_eq!(later.signature.split(' ').count(), 1);
    assert!(verifies(&new, &later));
    assert!(verifying(&old, &later).is_empty());
}

#[tokio::test]
async fn a_5xx_is_retried_on_the_schedule_with_the_same_event_id_then_delivered() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    receiver.answer(&[503]);
    let (id, secret) = endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let log = deliveries_when(app, "acme", &id, |log| log[0]["attempts"] == 1).await;
    assert_eq!(log[0]["status"], "PENDING");
    assert_eq!(log[0]["lastStatusCode"], 503);
    assert_eq!(log[0]["lastError"], "answered 503");
    assert!(log[0]["nextAttemptAt"].is_string());

    // The retry is due 5 s later on the services' clock.
    app.services.clock.advance(Span::seconds(6));
    let log = deliveries_when(app, "acme", &id, |log| log[0]["status"] == "DELIVERED").await;
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["lastStatusCode"], 200);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].id, received[1].id);
    assert_eq!(received[0].json()["id"], received[1].json()["id"]);
    assert!(received.iter().all(|r| verifies(&secret, r)));
}

#[tokio::test]
async fn a_4xx_fails_at_once_and_an_endpoint_failing_for_three_days_is_disabled() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let failing = Receiver::start().await;
    failing.answer(&[400, 410]);
    let watcher = Receiver::start().await;
    let (id, _) = endpoint(app, "acme", &failing.url, &["BOT_STATUS_CHANGED"]).await;
    let (watch, _) = endpoint(app, "acme", &watcher.url, &["WEBHOOK_ENDPOINT_DISABLED"]).await;

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let log = deliveries_when(app, "acme", &id, |log| log[0]["status"] == "FAILED").await;
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], 400);
    let read = app
        .gql(Some(&app.admin("acme")), ENDPOINT, json!({"id": id}))
        .await;
    let read = &read["data"]["webhookEndpoint"];
    assert_eq!(read["enabled"], true);
    assert!(read["failingSince"].is_string());

    app.services.clock.advance(Span::hours(73));
    move_bot(app, &scene.bot, BotStatus::Connected).await;
    deliveries_when(app, "acme", &id, |log| {
        log.len() == 2 && log[0]["status"] == "FAILED"
    })
    .await;
    let read = app
        .gql(Some(&app.admin("acme")), ENDPOINT, json!({"id": id}))
        .await;
    let read = &read["data"]["webhookEndpoint"];
    assert_eq!(read["enabled"], false);
    assert!(read["disabledReason"]
        .as_str()
        .unwrap()
        .contains("every delivery failed"));

    let told = watcher.wait_for(1).await[0].json();
    assert_eq!(told["type"], "webhook_endpoint.disabled");
    assert_eq!(told["organisation"], "acme");
    assert_eq!(told["data"]["endpointId"], id.as_str());
    deliveries_when(app, "acme", &watch, |log| {
        log.len() == 1 && log[0]["status"] == "DELIVERED"
    })
    .await;

    // Disabled, it is sent nothing more.
    move_bot(app, &scene.bot, BotStatus::Done).await;
    assert_eq!(deliveries(app, "acme", &id).await.len(), 2);
}

#[tokio::test]
async fn a_redelivery_keeps_the_event_id() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;
    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let first = receiver.wait_for(1).await[0].clone();
    deliveries_when(app, "acme", &id, |log| log[0]["status"] == "DELIVERED").await;

    let redelivered = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($event: ID!, $endpoint: ID!) { redeliverWebhook(eventId: $event, endpointId: $endpoint) { eventId status attempts } }",
            json!({"event": first.id, "endpoint": id}),
        )
        .await;
    assert_eq!(
        redelivered["data"]["redeliverWebhook"]["status"], "PENDING",
        "{redelivered}"
    );
    let again = receiver.wait_for(2).await[1].clone();
    assert_eq!(again.id, first.id);
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.json()["data"], first.json()["data"]);
    assert!(verifies(&secret, &again));
    let log = deliveries_when(app, "acme", &id, |log| log[0]["status"] == "DELIVERED").await;
    assert_eq!(log.len(), 1);
}

#[tokio::test]
async fn one_bots_statuses_arrive_in_order_even_when_the_first_is_retried() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    receiver.answer(&[503]);
    let (id, _) = endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    move_bot(app, &scene.bot, BotStatus::AwaitingAdmission).await;
    move_bot(app, &scene.bot, BotStatus::Connected).await;
    // The first failed; the two after it wait for it rather than overtake it.
    let log = deliveries_when(app, "acme", &id, |log| {
        log.len() == 3
            && log
                .iter()
                .any(|d| d["attempts"] == 1 && d["status"] == "PENDING")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "{log:?}");

    app.services.clock.advance(chrono::Duration::seconds(6));
    let received = receiver.wait_for(4).await;
    let sequences: Vec<i64> = received
        .iter()
        .map(|r| r.json()["data"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, vec![2, 2, 3, 4]);
}

#[tokio::test]
async fn one_organisations_events_never_reach_anothers_endpoint() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let ours = Receiver::start().await;
    let theirs = Receiver::start().await;
    let (_, _) = endpoint(app, "acme", &ours.url, &["BOT_STATUS_CHANGED"]).await;
    let (their_id, _) = endpoint(app, "globex", &theirs.url, &["BOT_STATUS_CHANGED"]).await;

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    move_bot(app, &scene.bot, BotStatus::Error).await;
    ours.wait_for(2).await;
    assert!(theirs.received().is_empty());
    assert!(deliveries(app, "globex", &their_id).await.is_empty());
}

#[tokio::test]
async fn a_slow_endpoint_holds_only_its_own_slots_and_never_delays_anothers() {
    // Three delivery slots, two at most for one endpoint: the slow endpoint holds two, the
    // fast one's deliveries go through the third.
    let app = TestApp::builder()
        .config(|c| {
            c.webhooks.delivery_concurrency = 3;
            c.webhooks.endpoint_concurrency = 2;
        })
        .spawn()
        .await;
    let slow = Receiver::answering_in(Duration::from_secs(2)).await;
    let fast = Receiver::start().await;
    let (slow_id, _) = endpoint(&app, "acme", &slow.url, &["BROADCAST_COMPLETED"]).await;
    endpoint(&app, "acme", &fast.url, &["BROADCAST_COMPLETED"]).await;

    for n in 0..6 {
        let outgoing = Outgoing::new(
            "acme",
            EventType::BroadcastCompleted,
            json!({"broadcastId": format!("b-{n}")}),
        );
        webhooks::emit_on(&app.services, &app.services.db, outgoing)
            .await
            .unwrap();
    }
    fast.wait_for(6).await;
    assert_eq!(
        slow.answered(),
        0,
        "the fast endpoint had everything before the slow one answered once"
    );
    assert!(slow.received().len() <= 2, "{:?}", slow.received().len());

    let log = deliveries_when(&app, "acme", &slow_id, |log| {
        log.len() == 6 && log.iter().all(|d| d["status"] == "DELIVERED")
    })
    .await;
    assert_eq!(slow.most_at_once(), 2);
    assert!(
        log.iter().all(|d| d["attempts"] == 1),
        "waiting for a slot is not an attempt: {log:?}"
    );
}

#[tokio::test]
async fn a_delivery_starts_when_its_event_is_recorded_not_at_the_next_poll() {
    // A poll a minute: only the wake-up that enqueuing sends can start the delivery within
    // the receiver's wait, and the deliveries' worker must hear it beside the main one.
    let scene = Scene::configured(crate::common::fakes::Fakes::start().await, |c| {
        c.jobs.poll_ms = 60_000
    })
    .await;
    let app = &scene.app;
    let receiver = Receiver::start().await;
    endpoint(app, "acme", &receiver.url, &["BOT_STATUS_CHANGED"]).await;
    // Both workers have started and gone idle, waiting for a wake-up.
    tokio::time::sleep(Duration::from_millis(300)).await;

    move_bot(app, &scene.bot, BotStatus::Connecting).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].json()["data"]["status"], "CONNECTING");
}
