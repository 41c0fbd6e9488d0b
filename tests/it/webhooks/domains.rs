//! The other domains' events reaching an endpoint, each domain driven through its own API as
//! its tests drive it: a broadcast's end, an animation's end, a conversation's escalation.

use std::sync::Arc;

use serde_json::{json, Value};

use super::endpoint;
use super::receiver::{verifies, Receiver};
use crate::agents::create_agent;
use crate::broadcasts::fakes::{Telegram, BOT_TOKEN};
use crate::broadcasts::{app_on, chats, create_ok, telegram_agent, wait_for};
use crate::common::animators::{FakeAnimator, Outcome, DID_KEY};
use crate::common::TestDb;
use crate::conversations::fakes::{telegram_update, ChatFakes};
use crate::conversations::{app_with, connect_telegram, conversations_when, deliver};
use crate::media::animation::{animate, finished, photo};
use crate::media::uploads::get;

/// The one delivery the receiver got, checked as an integrator would: signed with the
/// endpoint's secret, of `kind`, for `org`, with no secret of ours in it.
async fn the_delivery(receiver: &Receiver, secret: &str, kind: &str, org: &str) -> Value {
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let delivery = &received[0];
    assert!(verifies(secret, delivery), "{delivery:?}");
    let body = delivery.json();
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["organisation"], org);
    assert_eq!(body["id"], delivery.id.as_str());
    body
}

#[tokio::test]
async fn a_completed_broadcast_is_delivered_with_its_ids_and_final_status() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&app, "acme", &receiver.url, &["BROADCAST_COMPLETED"]).await;
    let recipients = chats(0..5);
    telegram
        .0
        .lock()
        .unwrap()
        .blocked
        .insert(recipients[2].clone());

    let id = create_ok(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Spring sale!",
            "recipients": recipients}),
    )
    .await;
    wait_for(&app, "acme", &id, "COMPLETED").await;
    let body = the_delivery(&receiver, &secret, "broadcast.completed", "acme").await;
    let data = &body["data"];
    assert_eq!(data["broadcastId"], id.as_str(), "{body}");
    assert_eq!(data["agentId"], agent.as_str());
    assert_eq!(data["integrationId"], integration.as_str());
    assert_eq!(data["channel"], "telegram");
    assert_eq!(data["status"], "COMPLETED");
    assert_eq!(data["total"], 5);
    assert_eq!(data["counts"]["sent"], 4);
    assert_eq!(data["counts"]["failed"], 1);
    assert_eq!(data["counts"]["pending"], 0);
    assert_eq!(data["failure"], Value::Null);
    assert!(data["finishedAt"].is_string());
    assert!(!body.to_string().contains(BOT_TOKEN));
}

#[tokio::test]
async fn a_broadcast_nobody_takes_is_delivered_as_ended_failed_with_the_reason() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&app, "acme", &receiver.url, &["BROADCAST_COMPLETED"]).await;
    let recipients = chats(0..2);
    telegram
        .0
        .lock()
        .unwrap()
        .blocked
        .extend(recipients.clone());

    let id = create_ok(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": integration, "message": "Hi",
            "recipients": recipients}),
    )
    .await;
    wait_for(&app, "acme", &id, "FAILED").await;
    let body = the_delivery(&receiver, &secret, "broadcast.completed", "acme").await;
    let data = &body["data"];
    assert_eq!(data["broadcastId"], id.as_str(), "{body}");
    assert_eq!(data["status"], "FAILED");
    assert_eq!(data["failure"], "no recipient could be sent to");
    assert_eq!(data["counts"]["sent"], 0);
    assert_eq!(data["counts"]["failed"], 2);
}

#[tokio::test]
async fn a_finished_animation_is_delivered_with_its_ids_and_its_video() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = crate::media::animation::app_with(&fake, |_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&app, "acme", &receiver.url, &["ANIMATION_COMPLETED"]).await;
    let photo = photo(&app).await;

    let started = animate(
        &app,
        json!({"mediaId": photo, "script": "Hello, it is me."}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    let done = finished(&app, id).await;
    assert_eq!(done["status"], "DONE", "{done}");
    let body = the_delivery(&receiver, &secret, "animation.completed", "acme").await;
    let data = &body["data"];
    assert_eq!(data["animationId"], id, "{body}");
    assert_eq!(data["photoId"], photo.as_str());
    assert_eq!(data["provider"], "D_ID");
    assert_eq!(data["status"], "DONE");
    assert_eq!(data["resultMediaId"], done["resultMediaId"]);
    assert_eq!(data["error"], Value::Null);
    assert!(data["memorialId"].is_string());
    // The link is ours, signed, and serves the provider's video.
    let link = data["videoUrl"].as_str().unwrap();
    assert!(
        link.starts_with(app.services.config.public_base_url.as_str()),
        "{link}"
    );
    let served = get(&app, link, None).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), fake.video());
}

#[tokio::test]
async fn a_failed_animation_is_delivered_with_the_providers_reason_and_no_video() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = crate::media::animation::app_with(&fake, |_| {}).await;
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&app, "acme", &receiver.url, &["ANIMATION_COMPLETED"]).await;
    fake.set_outcome(Outcome::Rejected("the face is not visible".into()));
    let photo = photo(&app).await;

    let started = animate(&app, json!({"mediaId": photo, "script": "Hidden"})).await;
    let id = started["id"].as_str().unwrap();
    assert_eq!(finished(&app, id).await["status"], "FAILED");
    let body = the_delivery(&receiver, &secret, "animation.completed", "acme").await;
    let data = &body["data"];
    assert_eq!(data["animationId"], id, "{body}");
    assert_eq!(data["status"], "FAILED");
    let error = data["error"].as_str().unwrap();
    assert!(error.contains("the face is not visible"), "{error}");
    assert_eq!(data["videoUrl"], Value::Null);
    assert_eq!(data["resultMediaId"], Value::Null);
    assert!(!body.to_string().contains(DID_KEY));
}

#[tokio::test]
async fn an_escalated_conversation_is_delivered_with_the_reason() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let settings = json!({"sentiment": {"enabled": true, "alertOnNegative": false,
        "negativeThreshold": 0.5, "escalateOnVeryNegative": true}});
    let agent = create_agent(&app, "acme", json!({"settings": settings})).await;
    let (integration, telegram_secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&app, "acme", &receiver.url, &["CONVERSATION_ESCALATED"]).await;

    deliver(
        &app,
        &integration,
        &telegram_secret,
        &telegram_update(
            1,
            42,
            "This is the worst experience ever! I want a refund immediately!",
        ),
    )
    .await;
    let body = the_delivery(&receiver, &secret, "conversation.escalated", "acme").await;
    let list = conversations_when(&app, "acme", None, |l| l[0]["manualMode"] == true).await;
    let data = &body["data"];
    assert_eq!(data["conversationId"], list[0]["id"], "{body}");
    assert_eq!(data["agentId"], agent.as_str());
    assert_eq!(data["integrationId"], integration.as_str());
    assert_eq!(data["channel"], "telegram");
    assert!(data["messageId"].is_string());
    assert!(data["at"].is_string());
    assert!(data["sentiment"].as_f64().unwrap() <= -0.75);
    let reason = data["reason"].as_str().unwrap();
    assert!(reason.contains("very negative sentiment"), "{reason}");
    assert!(!body.to_string().contains(&telegram_secret));
}
