//! WhatsApp and Instagram webhooks: the handshake, the signature over the raw body, and each
//! message routed by the account it was sent to.

use serde_json::{json, Value};
use switchboard::channels::{DELIVERY_JOB, INBOUND_JOB};

use super::*;
use crate::agents::create_agent;

fn text(number: &str, wamid: &str, from: &str, body: &str) -> Value {
    json!({"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
        "contacts": [{"profile": {"name": "Kerry"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1749416383", "type": "text",
            "text": {"body": body}}]}})
}

fn status(number: &str, wamid: &str, state: &str) -> Value {
    json!({"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": number},
        "statuses": [{"id": wamid, "status": state, "timestamp": "1749416390",
            "recipient_id": "16315551181"}]}})
}

fn payload(changes: Vec<Value>) -> Vec<u8> {
    let entry = json!({"id": "WABA-1", "changes": changes});
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [entry]})).unwrap()
}

async fn post(
    app: &TestApp,
    channel: &str,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/{channel}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    request.send().await.unwrap()
}

async fn handshake(app: &TestApp, channel: &str, token: &str) -> reqwest::Response {
    let query = format!("hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444");
    reqwest::get(app.url(&format!("/webhooks/{channel}?{query}")))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_handshake_answers_the_challenge_only_for_an_integrations_verify_token() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    connected_id(&connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    let ok = handshake(&app, "whatsapp", VERIFY_TOKEN).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = handshake(&app, "whatsapp", "guessed").await;
    assert_eq!(wrong.status(), 403);
    let elsewhere = handshake(&app, "instagram", VERIFY_TOKEN).await;
    assert_eq!(
        elsewhere.status(),
        403,
        "a WhatsApp token is no Instagram one"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused_and_nothing_of_the_call_is_stored() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    connected_id(&connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    let body = payload(vec![text("1065", "wamid.A", "16315551181", "Hello")]);
    let forged = signature("another-secret", &body);
    let mut altered = body.clone();
    altered.extend_from_slice(b" ");
    for given in [None, Some(forged.as_str()), Some("sha256=zz"), Some("")] {
        let refused = post(&app, "whatsapp", &body, given).await;
        assert_eq!(refused.status(), 401, "{given:?}");
    }
    let signed_other_body = post(
        &app,
        "whatsapp",
        &altered,
        Some(&signature(APP_SECRET, &body)),
    )
    .await;
    assert_eq!(
        signed_other_body.status(),
        401,
        "the raw body is what is signed"
    );
    assert!(jobs_of(&app, INBOUND_JOB).await.is_empty());
}

#[tokio::test]
async fn two_numbers_of_two_agents_in_one_call_each_reach_their_own_integration() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let sales = create_agent(&app, "acme", json!({"name": "Sales"})).await;
    let support = create_agent(&app, "acme", json!({"name": "Support"})).await;
    let first = connected_id(&connect(&app, "acme", whatsapp_input(&sales, "1065")).await);
    let second = connected_id(&connect(&app, "acme", whatsapp_input(&support, "2077")).await);
    let body = payload(vec![
        text("1065", "wamid.A", "16315551181", "Price?"),
        text("2077", "wamid.B", "16315551182", "Broken!"),
        status("2077", "wamid.OUT", "delivered"),
        text("9999", "wamid.C", "16315551183", "Anyone?"),
    ]);
    let accepted = post(&app, "whatsapp", &body, Some(&signature(APP_SECRET, &body))).await;
    assert_eq!(accepted.status(), 200);
    let again = post(&app, "whatsapp", &body, Some(&signature(APP_SECRET, &body))).await;
    assert_eq!(again.status(), 200, "a resend is acknowledged");
    let jobs = jobs_of(&app, INBOUND_JOB).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let by_message: Vec<(&str, &str)> = jobs
        .iter()
        .map(|job| {
            (
                job["message"]["provider_message_id"].as_str().unwrap(),
                job["integration_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        by_message.contains(&("wamid.A", first.as_str())),
        "{by_message:?}"
    );
    assert!(
        by_message.contains(&("wamid.B", second.as_str())),
        "{by_message:?}"
    );
    let deliveries = jobs_of(&app, DELIVERY_JOB).await;
    assert_eq!(
        deliveries,
        vec![
            json!({"integration_id": second, "update": {"provider_message_id": "wamid.OUT",
            "status": "delivered", "error": null, "at": "2025-06-08T20:59:50Z"}})
        ]
    );
}

#[tokio::test]
async fn a_number_no_integration_holds_is_acknowledged_and_ignored() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let body = payload(vec![text("9999", "wamid.C", "16315551183", "Anyone?")]);
    let ignored = post(&app, "whatsapp", &body, Some(&signature("whatever", &body))).await;
    assert_eq!(ignored.status(), 200);
    assert!(jobs_of(&app, INBOUND_JOB).await.is_empty());
}

#[tokio::test]
async fn instagram_falls_back_to_the_servers_app_secret_and_verify_token() {
    let fake = telegram_fake().await;
    let base: url::Url = fake.uri().parse().unwrap();
    let app = TestApp::builder()
        .config(move |c| {
            c.providers.instagram_graph_base = base;
            c.channels.instagram_app_secret = Some(APP_SECRET.into());
            c.channels.instagram_verify_token = Some(VERIFY_TOKEN.into());
        })
        .spawn()
        .await;
    let ok = handshake(&app, "instagram", VERIFY_TOKEN).await;
    assert_eq!(
        ok.status(),
        200,
        "the server's token, with no integration yet"
    );
    let agent = create_agent(&app, "acme", json!({})).await;
    let input = json!({"agentId": agent, "kind": "INSTAGRAM", "name": "IG",
        "instagram": {"accountId": "17841400000000001", "accessToken": ACCESS_TOKEN}});
    let id = connected_id(&connect(&app, "acme", input).await);
    let body = serde_json::to_vec(&json!({"object": "instagram", "entry": [{
        "id": "17841400000000001", "time": 1749416383000_i64, "messaging": [
            {"sender": {"id": "1254"}, "recipient": {"id": "17841400000000001"},
             "timestamp": 1749416383000_i64, "message": {"mid": "mid.1", "text": "Hi"}},
            {"sender": {"id": "17841400000000001"}, "recipient": {"id": "1254"},
             "timestamp": 1749416384000_i64, "message": {"mid": "mid.2", "text": "Echo", "is_echo": true}}
        ]}]}))
    .unwrap();
    let unsigned = post(&app, "instagram", &body, Some(&signature("nope", &body))).await;
    assert_eq!(unsigned.status(), 401);
    let accepted = post(
        &app,
        "instagram",
        &body,
        Some(&signature(APP_SECRET, &body)),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let jobs = jobs_of(&app, INBOUND_JOB).await;
    assert_eq!(jobs.len(), 1, "echoes are ours: {jobs:?}");
    assert_eq!(jobs[0]["integration_id"], id.as_str());
    assert_eq!(jobs[0]["message"]["chat_id"], "1254");
}
