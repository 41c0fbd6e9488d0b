//! Connecting, disconnecting and reconnecting integrations, by admins of the organisation.

use serde_json::{json, Value};
use switchboard::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::agents::create_agent;
use crate::common::error_code;

/// The bodies Telegram's `method` was called with.
async fn calls(fake: &MockServer, at: &str) -> Vec<Value> {
    fake.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with(&format!("/{at}")))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_telegram_bot_is_checked_then_its_webhook_set_with_a_secret_and_its_token_stays_sealed() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, true).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", telegram_input(&agent)).await;
    let id = connected_id(&answer);
    let integration = &answer["data"]["connectIntegration"];
    assert_eq!(integration["identity"], BOT_ID);
    assert_eq!(integration["mode"], "WEBHOOK", "PUBLIC_BASE_URL is https");
    assert_eq!(integration["agentId"], agent.as_str());
    assert_eq!(calls(&fake, "getMe").await.len(), 1);
    let webhook = calls(&fake, "setWebhook").await;
    assert_eq!(webhook.len(), 1);
    assert_eq!(
        webhook[0]["url"],
        format!("https://switchboard.example.test/webhooks/telegram/{id}")
    );
    let secret = webhook[0]["secret_token"].as_str().unwrap();
    assert!(secret.len() >= 32, "{secret}");
    assert!(!answer.to_string().contains(BOT_TOKEN));

    let stored = app
        .sql_text("SELECT credentials FROM integrations WHERE id = $1", &id)
        .await;
    assert!(stored.starts_with("v1:"), "sealed at rest: {stored}");
    assert!(!stored.contains(BOT_TOKEN) && !stored.contains(secret));
    let events = "SELECT COUNT(*) FROM agent_events WHERE integration_id = $1 AND kind = 'integration_state'";
    assert_eq!(
        count(&app, events, &id).await,
        1,
        "connected is an agent event"
    );
    let listed = app
        .gql(
            Some(&app.token("vic", "acme", Role::Viewer)),
            "query($agent: ID) { integrations(agentId: $agent) { id state } }",
            json!({"agent": agent}),
        )
        .await;
    assert_eq!(listed["data"]["integrations"][0]["id"], id.as_str());
    let fields = app
        .gql(
            Some(&app.admin("acme")),
            "{ __type(name: \"Integration\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert!(!fields.to_string().to_lowercase().contains("credential"));
}

#[tokio::test]
async fn a_token_telegram_refuses_is_bad_user_input_and_stores_nothing() {
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/getMe")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            ),
        )
        .mount(&fake)
        .await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", telegram_input(&agent)).await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("refused the bot token"), "{message}");
    assert!(!answer.to_string().contains(BOT_TOKEN));
    assert!(
        !answer.to_string().contains("AAHdqTcv"),
        "no part of it either"
    );
    let stored = count(
        &app,
        "SELECT COUNT(*) FROM integrations WHERE org_id = $1",
        "acme",
    )
    .await;
    assert_eq!(stored, 0);

    let not_a_token = json!({"agentId": agent, "kind": "TELEGRAM", "name": "Bot",
        "telegram": {"botToken": "not a token"}});
    let answer = connect(&app, "acme", not_a_token).await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT");
    assert!(!answer.to_string().contains("not a token"));
}

#[tokio::test]
async fn an_account_another_integration_holds_is_a_conflict_until_it_is_disconnected() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let ours = create_agent(&app, "acme", json!({})).await;
    let theirs = create_agent(&app, "globex", json!({})).await;
    let first = connected_id(&connect(&app, "acme", whatsapp_input(&ours, "1065")).await);
    let again = connect(&app, "globex", whatsapp_input(&theirs, "1065")).await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    let bot = connect(&app, "acme", telegram_input(&ours)).await;
    connected_id(&bot);
    let same_bot = connect(&app, "globex", telegram_input(&theirs)).await;
    assert_eq!(error_code(&same_bot), "CONFLICT", "{same_bot}");

    let admin = app.admin("acme");
    app.gql(Some(&admin), DISCONNECT, json!({"id": first}))
        .await;
    let now = connect(&app, "globex", whatsapp_input(&theirs, "1065")).await;
    connected_id(&now);
    let back = app.gql(Some(&admin), RECONNECT, json!({"id": first})).await;
    assert_eq!(
        error_code(&back),
        "CONFLICT",
        "the number is globex's now: {back}"
    );
}

#[tokio::test]
async fn a_bot_disconnected_then_reconnected_keeps_its_integration_and_is_checked_again() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", telegram_input(&agent)).await;
    let id = connected_id(&answer);
    assert_eq!(answer["data"]["connectIntegration"]["mode"], "POLLING");
    assert_eq!(
        calls(&fake, "deleteWebhook").await.len(),
        1,
        "polling needs no webhook"
    );
    assert!(calls(&fake, "setWebhook").await.is_empty());

    let admin = app.admin("acme");
    let off = app.gql(Some(&admin), DISCONNECT, json!({"id": id})).await;
    assert_eq!(
        off["data"]["disconnectIntegration"]["state"],
        "DISCONNECTED"
    );
    assert_eq!(
        off["data"]["disconnectIntegration"]["stateReason"],
        "by admin-of-acme"
    );
    let held = "SELECT COUNT(*) FROM integrations WHERE id = $1 AND active_identity IS NULL";
    assert_eq!(count(&app, held, &id).await, 1, "the account is free");
    let on = app.gql(Some(&admin), RECONNECT, json!({"id": id})).await;
    assert_eq!(on["data"]["reconnectIntegration"]["id"], id.as_str());
    assert_eq!(on["data"]["reconnectIntegration"]["state"], "CONNECTED");
    assert_eq!(calls(&fake, "getMe").await.len(), 2, "checked again");
    let events = "SELECT COUNT(*) FROM agent_events WHERE integration_id = $1";
    assert_eq!(count(&app, events, &id).await, 3);
    let all = "SELECT COUNT(*) FROM integrations WHERE org_id = $1";
    assert_eq!(count(&app, all, "acme").await, 1);
}

#[tokio::test]
async fn only_admins_connect_and_another_organisations_integrations_look_missing() {
    let fake = telegram_fake().await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    for role in [Role::Manager, Role::Viewer] {
        let token = app.token("someone", "acme", role);
        let input = whatsapp_input(&agent, "1065");
        let answer = app
            .gql(Some(&token), CONNECT, json!({"input": input}))
            .await;
        assert_eq!(error_code(&answer), "FORBIDDEN", "{role:?}");
    }
    let id = connected_id(&connect(&app, "acme", whatsapp_input(&agent, "1065")).await);
    let outsider = app.admin("globex");
    let seen = app
        .gql(
            Some(&outsider),
            "query($id: ID!) { integration(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
    for mutation in [DISCONNECT, RECONNECT] {
        let changed = app.gql(Some(&outsider), mutation, json!({"id": id})).await;
        assert_eq!(error_code(&changed), "NOT_FOUND", "{mutation}");
    }
    let onto_theirs = connect(&app, "globex", whatsapp_input(&agent, "2077")).await;
    assert_eq!(error_code(&onto_theirs), "NOT_FOUND", "acme's agent");
    let listed = app
        .gql(Some(&outsider), "{ integrations { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["integrations"], json!([]));
    let manager = app.token("mia", "acme", Role::Manager);
    let off = app.gql(Some(&manager), DISCONNECT, json!({"id": id})).await;
    assert_eq!(error_code(&off), "FORBIDDEN");
}

#[tokio::test]
async fn under_sandbox_a_telegram_bot_connects_without_asking_telegram() {
    let app = TestApp::builder()
        .config(|c| c.sandbox = true)
        .spawn()
        .await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", telegram_input(&agent)).await;
    connected_id(&answer);
    let integration = &answer["data"]["connectIntegration"];
    assert_eq!(integration["identity"], BOT_ID, "the token's own prefix");
    assert_eq!(integration["mode"], "SANDBOX");
}
