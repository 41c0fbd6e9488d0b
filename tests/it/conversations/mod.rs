//! Customer messages from a channel's webhook to the agent's answer: stored once however
//! often delivered, alerts and escalation, working hours, translation, failures recorded,
//! and everything pushed live.

pub mod fakes;
mod follow_up;
mod livechat;
mod load;
mod pipeline;

use std::time::Duration;

use serde_json::{json, Value};

use crate::agents::create_agent;
use crate::common::{TestApp, TestDb};
use fakes::{telegram_update, ChatFakes, BOT_TOKEN};

pub const CONVERSATIONS: &str = "query($agent: ID) { conversations(agentId: $agent) { edges { node {
  id agentId integrationId channel remoteUserId manualMode failure lastSequence
  messages { edges { node { position sequence role text originalText language sentiment delivery deliveryError } } }
} } } }";

/// An app whose LLM and Telegram are the fakes.
pub async fn app_with(fakes: &ChatFakes) -> TestApp {
    app_on(fakes, &TestDb::new().await).await
}

/// The same on `db`, which other instances may share.
pub async fn app_on(fakes: &ChatFakes, db: &TestDb) -> TestApp {
    let (openai, telegram) = (fakes.openai.uri(), fakes.telegram.uri());
    TestApp::builder()
        .db(db)
        .config(move |config| {
            config.providers.openai_base_url = format!("{openai}/v1").parse().unwrap();
            config.providers.openai_api_key = Some("sk-server".into());
            config.providers.timeout_secs = 5;
            config.providers.telegram_api_base = telegram.parse().unwrap();
            config.agents.reply_max_attempts = 3;
            // Telegram posts webhooks only to https.
            config.public_base_url = "https://switchboard.test".parse().unwrap();
        })
        .spawn()
        .await
}

/// A Telegram integration of `agent` in webhook mode: its id and the secret Telegram was
/// told to send with every update.
pub async fn connect_telegram(
    app: &TestApp,
    fakes: &ChatFakes,
    org: &str,
    agent: &str,
) -> (String, String) {
    let answer = app
        .gql(
            Some(&app.admin(org)),
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id state } }",
            json!({"input": {"agentId": agent, "kind": "TELEGRAM", "name": "Support bot",
                "telegram": {"botToken": BOT_TOKEN, "mode": "WEBHOOK"}}}),
        )
        .await;
    let id = answer["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not connected: {answer}"))
        .to_string();
    let secret = fakes
        .telegram
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .rev()
        .filter(|r| r.url.path().ends_with("/setWebhook"))
        .find_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            body["url"]
                .as_str()?
                .ends_with(&id)
                .then(|| body["secret_token"].as_str().map(str::to_string))?
        })
        .expect("setWebhook was called with a secret token");
    (id, secret)
}

/// Posts an update to the integration's webhook as Telegram does; answers the HTTP status.
pub async fn deliver(app: &TestApp, integration: &str, secret: &str, update: &Value) -> u16 {
    reqwest::Client::new()
        .post(app.url(&format!("/webhooks/telegram/{integration}")))
        .header("x-telegram-bot-api-secret-token", secret)
        .json(update)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The organisation's conversations (of `agent`), newest first, once `done` holds for them.
pub async fn conversations_when(
    app: &TestApp,
    org: &str,
    agent: Option<&str>,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let admin = app.admin(org);
    let mut last = Vec::new();
    for _ in 0..300 {
        let answer = app
            .gql(Some(&admin), CONVERSATIONS, json!({"agent": agent}))
            .await;
        last = answer["data"]["conversations"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|edge| edge["node"].clone())
            .collect();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("conversations never got there: {last:#?}");
}

/// The messages of a conversation as listed.
pub fn messages(conversation: &Value) -> Vec<Value> {
    conversation["messages"]["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
        .unwrap_or_default()
}

/// Whether the single conversation's latest message is a settled reply.
pub fn answered(list: &[Value]) -> bool {
    list.first().is_some_and(|c| {
        messages(c).last().is_some_and(|m| {
            m["role"] == "ASSISTANT" && m["delivery"] != "PENDING" && m["delivery"] != "SENDING"
        })
    })
}

#[tokio::test]
async fn a_telegram_message_is_stored_and_answered_by_its_agent() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let agent = create_agent(
        &app,
        "acme",
        json!({"systemPrompt": "You are Acme's support."}),
    )
    .await;
    let (integration, secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    let status = deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(1, 42, "Where is my order?"),
    )
    .await;
    assert_eq!(status, 200);
    let list = conversations_when(&app, "acme", Some(&agent), answered).await;
    let conversation = &list[0];
    assert_eq!(conversation["channel"], "telegram");
    assert_eq!(conversation["remoteUserId"], "42");
    let said = messages(conversation);
    assert_eq!(said.len(), 2);
    assert_eq!(said[0]["role"], "USER");
    assert_eq!(said[0]["text"], "Where is my order?");
    assert_eq!(said[0]["delivery"], "RECEIVED");
    assert_eq!(said[1]["text"], "Reply 1 to: Where is my order?");
    assert_eq!(said[1]["delivery"], "SENT");
    let sent = fakes.telegram_sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["chat_id"].to_string().trim_matches('"'), "42");
    let asked = fakes.llm_asked().await;
    assert_eq!(
        asked[0]["messages"][0]["content"],
        "You are Acme's support."
    );
}

#[tokio::test]
async fn a_webhook_delivered_five_times_gives_one_message_and_one_reply() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (integration, secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    let update = telegram_update(7, 42, "Hello?");
    for _ in 0..5 {
        assert_eq!(deliver(&app, &integration, &secret, &update).await, 200);
    }
    let list = conversations_when(&app, "acme", None, answered).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = conversations_when(&app, "acme", None, |l| l.len() == list.len()).await;
    assert_eq!(list.len(), 1);
    assert_eq!(messages(&list[0]).len(), 2, "one message, one reply");
    assert_eq!(fakes.telegram_sent().await.len(), 1);
}

#[tokio::test]
async fn a_webhook_with_a_bad_or_missing_secret_is_refused_and_stores_nothing() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (integration, _secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    let update = telegram_update(8, 42, "Hello?");
    assert_eq!(
        deliver(&app, &integration, "wrong-secret", &update).await,
        401
    );
    let missing = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/telegram/{integration}")))
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = conversations_when(&app, "acme", None, |_| true).await;
    assert!(list.is_empty());
    assert!(fakes.llm_asked().await.is_empty());
}

#[tokio::test]
async fn in_sandbox_mode_a_played_customer_is_answered_by_the_simulated_llm() {
    let app = TestApp::builder()
        .config(|c| c.sandbox = true)
        .spawn()
        .await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let connected = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id state } }",
            json!({"input": {"agentId": agent, "kind": "SANDBOX", "name": "Try it"}}),
        )
        .await;
    let integration = connected["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"));
    let played = app
        .gql(
            Some(&app.token("mia", "acme", switchboard::auth::Role::Manager)),
            "mutation($i: ID!) { sandboxSendCustomerMessage(integrationId: $i, customer: \"Ana\", text: \"Is it open today?\") }",
            json!({"i": integration}),
        )
        .await;
    assert_eq!(
        played["data"]["sandboxSendCustomerMessage"], true,
        "{played}"
    );
    let list = conversations_when(&app, "acme", None, answered).await;
    assert_eq!(list[0]["channel"], "sandbox");
    let said = messages(&list[0]);
    assert_eq!(said[0]["text"], "Is it open today?");
    assert!(said[1]["text"].as_str().unwrap().contains("sandbox agent"));
    assert_eq!(said[1]["delivery"], "SENT");
}
