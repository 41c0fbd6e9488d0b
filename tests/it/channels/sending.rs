//! Sending from an integration's account, and credentials that never reach an answer or a
//! log line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::*;
use crate::agents::create_agent;

#[tokio::test]
async fn each_integration_sends_from_its_own_account_and_a_sandbox_one_sends_nothing_out() {
    let fake = telegram_fake().await;
    Mock::given(method("POST"))
        .and(path("/wa/1065/messages"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT"}]}),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let number = connected_id(&connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    let sandbox = connect(
        &app,
        "acme",
        json!({"agentId": agent, "kind": "SANDBOX", "name": "Try"}),
    )
    .await;
    let sandbox_id = connected_id(&sandbox);
    let integration = &sandbox["data"]["connectIntegration"];
    assert_eq!(integration["identity"], sandbox_id.as_str());
    assert_eq!(integration["mode"], "SANDBOX");

    let s = &app.services;
    let number = switchboard::channels::load(&s.db, &number).await.unwrap();
    let sent = switchboard::channels::send_text(s, &number, "16315551181", "Hello")
        .await
        .unwrap();
    assert_eq!(sent.provider_message_id, "wamid.OUT");
    let simulated = switchboard::channels::load(&s.db, &sandbox_id)
        .await
        .unwrap();
    switchboard::channels::send_text(s, &simulated, "visitor-1", "Hi there")
        .await
        .unwrap();
    let outbox = s.providers.messengers.simulated().sent();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].channel, outbox[0].text.as_str()),
        ("sandbox", "Hi there")
    );
    assert_eq!(switchboard::channels::channel_name(number.kind), "whatsapp");
}

/// Log lines, written where the test can read them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_credential_is_ever_in_an_answer_or_a_log_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this process's only subscriber");
    let fake = telegram_fake().await;
    // A send refused with an answer that quotes the token it was sent.
    Mock::given(method("POST"))
        .and(path("/wa/1065/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 190, "message": format!("Invalid OAuth access token {ACCESS_TOKEN}")}})))
        .mount(&fake)
        .await;
    let app = app_with(&fake, true).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let mut answers: Vec<Value> = Vec::new();
    answers.push(connect(&app, "acme", telegram_input(&agent)).await);
    let bot = connected_id(&answers[0]);
    answers.push(connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    let number = connected_id(&answers[1]);
    answers.push(connect(&app, "globex", whatsapp_input(&agent, "1065")).await);
    let admin = app.admin("acme");
    answers.push(
        app.gql(
            Some(&admin),
            "{ integrations { id kind name identity mode state stateReason } }",
            json!({}),
        )
        .await,
    );
    answers.push(app.gql(Some(&admin), DISCONNECT, json!({"id": bot})).await);
    answers.push(app.gql(Some(&admin), RECONNECT, json!({"id": bot})).await);
    let client = reqwest::Client::new();
    let refused = client
        .post(app.url(&format!("/webhooks/telegram/{bot}")))
        .header("X-Telegram-Bot-Api-Secret-Token", "guess")
        .json(&json!({"update_id": 1}))
        .send()
        .await
        .unwrap();
    answers.push(refused.json().await.unwrap());
    let query = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1";
    let handshake = reqwest::get(app.url(&format!("/webhooks/whatsapp?{query}")))
        .await
        .unwrap();
    answers.push(handshake.json().await.unwrap());
    let s = &app.services;
    let number = switchboard::channels::load(&s.db, &number).await.unwrap();
    let failed = switchboard::channels::send_text(s, &number, "1", "Hi")
        .await
        .unwrap_err();
    answers.push(json!({"send": failed.describe(), "debug": format!("{failed:?} {number:?}")}));

    let secret = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/setWebhook"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["secret_token"].clone())
        .next()
        .unwrap();
    let secret = secret.as_str().unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("integration connected"), "logs were captured");
    let said = format!("{answers:?}\n{logs}");
    for credential in [
        BOT_TOKEN,
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        secret,
        APP_SECRET,
        ACCESS_TOKEN,
        VERIFY_TOKEN,
    ] {
        assert!(!said.contains(credential), "{credential} was said:\n{said}");
    }
}
