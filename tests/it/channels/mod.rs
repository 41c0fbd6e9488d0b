//! Channels: integrations connected by admins, checked with their channel, and the webhooks
//! and long polling that turn what customers write into one durable job per message. Fake
//! Telegram and Meta APIs answer with the real shapes.

mod connect;
mod health;
mod meta;
mod polling;
mod sending;
mod telegram;
mod waha;

use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use sha2::Sha256;
use switchboard::jobs::entity as jobs;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::TestApp;

/// A bot token as @BotFather hands them out; no answer or log line may ever hold it.
pub const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
pub const BOT_ID: &str = "123456789";
pub const APP_SECRET: &str = "meta-app-secret-do-not-leak";
pub const ACCESS_TOKEN: &str = "EAAG-access-token-do-not-leak";
pub const VERIFY_TOKEN: &str = "verify-token-do-not-leak";

pub const CONNECT: &str = "mutation($input: ConnectIntegrationInput!) {
  connectIntegration(input: $input) { id agentId kind name identity mode state stateReason }
}";
pub const DISCONNECT: &str =
    "mutation($id: ID!) { disconnectIntegration(id: $id) { id state stateReason } }";
pub const RECONNECT: &str =
    "mutation($id: ID!) { reconnectIntegration(id: $id) { id state stateReason } }";

/// A Telegram Bot API that knows the bot of [`BOT_TOKEN`], takes webhooks, and has no
/// updates waiting.
pub async fn telegram_fake() -> MockServer {
    let server = MockServer::start().await;
    let bot = |at: &str| path(format!("/bot{BOT_TOKEN}/{at}"));
    let ok = |result: Value| {
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": result}))
    };
    Mock::given(method("POST"))
        .and(bot("getMe"))
        .respond_with(ok(json!({"id": 123456789, "is_bot": true,
            "first_name": "Support", "username": "acme_support_bot"})))
        .mount(&server)
        .await;
    for at in ["setWebhook", "deleteWebhook"] {
        Mock::given(method("POST"))
            .and(bot(at))
            .respond_with(ok(json!(true)))
            .mount(&server)
            .await;
    }
    // Below any test's own answers (wiremock prefers the lower number).
    Mock::given(method("POST"))
        .and(bot("getUpdates"))
        .respond_with(ok(json!([])))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// An app whose Telegram and Meta APIs are `fake`; with `https`, a public URL Telegram
/// posts webhooks to.
pub async fn app_with(fake: &MockServer, https: bool) -> TestApp {
    let base: url::Url = fake.uri().parse().unwrap();
    TestApp::builder()
        .config(move |c| {
            c.providers.telegram_api_base = base.clone();
            c.providers.meta_graph_base = base.join("/wa").unwrap();
            c.providers.instagram_graph_base = base.join("/ig").unwrap();
            if https {
                c.public_base_url = "https://switchboard.example.test".parse().unwrap();
            }
        })
        .spawn()
        .await
}

/// Connects as `org`'s admin; answers the whole response.
pub async fn connect(app: &TestApp, org: &str, input: Value) -> Value {
    app.gql(Some(&app.admin(org)), CONNECT, json!({"input": input}))
        .await
}

/// The id of a connected integration, or a panic saying why not.
pub fn connected_id(answer: &Value) -> String {
    let integration = &answer["data"]["connectIntegration"];
    assert_eq!(integration["state"], "CONNECTED", "{answer}");
    integration["id"].as_str().unwrap().to_string()
}

pub fn telegram_input(agent_id: &str) -> Value {
    json!({"agentId": agent_id, "kind": "TELEGRAM", "name": "Support bot",
        "telegram": {"botToken": BOT_TOKEN}})
}

pub fn whatsapp_input(agent_id: &str, phone_number_id: &str) -> Value {
    json!({"agentId": agent_id, "kind": "WHATSAPP_CLOUD", "name": format!("WhatsApp {phone_number_id}"),
        "whatsappCloud": {"phoneNumberId": phone_number_id, "accessToken": ACCESS_TOKEN,
            "appSecret": APP_SECRET, "verifyToken": VERIFY_TOKEN}})
}

/// The payloads of the jobs of `kind`, oldest first.
pub async fn jobs_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let mut rows = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(kind))
        .all(&app.services.db)
        .await
        .unwrap();
    rows.sort_by_key(|job| job.created_at);
    rows.iter()
        .map(|job| serde_json::from_str(&job.payload).unwrap())
        .collect()
}

/// The first column of the first row of `sql` (`$1` bound to `param`) as a number.
pub async fn count(app: &TestApp, sql: &str, param: &str) -> i64 {
    let backend = app.services.db.get_database_backend();
    let statement = sea_orm::Statement::from_sql_and_values(
        backend,
        switchboard::db::placeholders(backend, sql),
        [param.into()],
    );
    let row = app.services.db.query_one_raw(statement).await.unwrap();
    row.expect("a row").try_get_by_index(0).unwrap()
}

/// `X-Hub-Signature-256` of `body` under `secret`, as Meta signs.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Polls `check` until it holds, for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}
