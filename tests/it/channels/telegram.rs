//! Telegram's webhook: its secret header checked in constant time, each message one job.

use serde_json::{json, Value};

use super::*;
use crate::agents::create_agent;

/// The secret the integration gave Telegram, as Telegram saw it.
async fn webhook_secret(fake: &MockServer) -> String {
    let requests = fake.received_requests().await.unwrap();
    let set = requests
        .iter()
        .find(|r| r.url.path().ends_with("/setWebhook"))
        .expect("setWebhook was called");
    let body: Value = serde_json::from_slice(&set.body).unwrap();
    body["secret_token"].as_str().unwrap().to_string()
}

fn update() -> Value {
    json!({"update_id": 10001, "message": {"message_id": 42,
        "from": {"id": 555, "is_bot": false, "first_name": "Anna", "last_name": "Petrova"},
        "chat": {"id": 555, "type": "private"}, "date": 1749416383,
        "text": "Сколько стоит доставка?"}})
}

async fn post(app: &TestApp, id: &str, secret: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/telegram/{id}")))
        .json(body);
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_webhook_without_the_integrations_secret_is_refused_and_stores_nothing() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, true).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let id = connected_id(&connect(&app, "acme", telegram_input(&agent)).await);
    let secret = webhook_secret(&fake).await;
    // Its last character changed (to one it is not: a random secret may end in either).
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    let unknown = uuid::Uuid::new_v4().to_string();
    for (to, given) in [
        (id.as_str(), None),
        (id.as_str(), Some(wrong.as_str())),
        (id.as_str(), Some("")),
        (unknown.as_str(), Some(secret.as_str())),
        ("not-an-id", Some(secret.as_str())),
    ] {
        let refused = post(&app, to, given, &update()).await;
        assert_eq!(refused.status(), 401, "{to} {given:?}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED");
        assert!(!body.to_string().contains(&secret));
    }
    assert!(jobs_of(&app, switchboard::channels::INBOUND_JOB)
        .await
        .is_empty());
}

#[tokio::test]
async fn an_update_delivered_five_times_is_one_job_naming_its_integration() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, true).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let id = connected_id(&connect(&app, "acme", telegram_input(&agent)).await);
    let secret = webhook_secret(&fake).await;
    for _ in 0..5 {
        let accepted = post(&app, &id, Some(&secret), &update()).await;
        assert_eq!(accepted.status(), 200);
    }
    let jobs = jobs_of(&app, switchboard::channels::INBOUND_JOB).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0],
        json!({"integration_id": id, "message": {"provider_message_id": "555:42",
            "remote_user_id": "555", "remote_user_name": "Anna Petrova", "chat_id": "555",
            "text": "Сколько стоит доставка?", "sent_at": "2025-06-08T20:59:43Z"}})
    );
    let unique = "SELECT COUNT(*) FROM jobs WHERE unique_key = $1";
    let key = format!("inbound:{id}:555:42");
    assert_eq!(count(&app, unique, &key).await, 1);

    let sticker = json!({"update_id": 10002, "message": {"message_id": 43,
        "from": {"id": 555, "is_bot": false, "first_name": "Anna"},
        "chat": {"id": 555, "type": "private"}, "date": 1749416390, "sticker": {}}});
    let ignored = post(&app, &id, Some(&secret), &sticker).await;
    assert_eq!(ignored.status(), 200, "acknowledged, so Telegram stops");
    assert_eq!(
        jobs_of(&app, switchboard::channels::INBOUND_JOB)
            .await
            .len(),
        1
    );

    let admin = app.admin("acme");
    app.gql(Some(&admin), DISCONNECT, json!({"id": id})).await;
    let mut late = update();
    late["update_id"] = json!(10003);
    late["message"]["message_id"] = json!(44);
    let after = post(&app, &id, Some(&secret), &late).await;
    assert_eq!(after.status(), 200);
    assert_eq!(
        jobs_of(&app, switchboard::channels::INBOUND_JOB)
            .await
            .len(),
        1,
        "a disconnected bot's updates are dropped"
    );
}
