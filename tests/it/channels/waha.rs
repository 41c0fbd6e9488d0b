//! WhatsApp devices paired through WAHA, against a fake WAHA answering with its JSON: the
//! session created with our signed webhook, the QR code while SCAN_QR_CODE, the state that
//! follows `session.status`, the account's JID, and messages answered by the device's agent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;
use switchboard::auth::Role;
use switchboard::channels::INBOUND_JOB;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::agents::create_agent;
use crate::common::{error_code, TestDb};
use crate::conversations::{conversations_when, messages};

const WAHA_KEY: &str = "waha-api-key-do-not-leak";
const OWN_KEY: &str = "own-waha-key-do-not-leak";
const QR_PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake-qr-image";

const DEVICE: &str = "mutation($input: ConnectIntegrationInput!) {
  connectIntegration(input: $input) { id kind identity mode state sessionStatus stateReason }
}";
const INTEGRATION: &str =
    "query($id: ID!) { integration(id: $id) { id identity state sessionStatus stateReason } }";
const QR: &str = "query($id: ID!) { integrationQr(integrationId: $id) }";
const CODE: &str = "mutation($id: ID!, $phone: String!) {
  requestPairingCode(integrationId: $id, phoneNumber: $phone)
}";

/// A WAHA server that takes sessions, shows a QR code, gives pairing codes, sends texts
/// (numbering them) and answers chat completions with the agent's prompt and the customer's
/// words, so a reply says which agent wrote it.
async fn waha_fake() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/sessions"))
        .and(header("x-api-key", WAHA_KEY))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            ResponseTemplate::new(201).set_body_json(
                json!({"name": body["name"], "status": "STOPPED", "config": body["config"]}),
            )
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/sessions/[^/]+/start$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"status": "STARTING"})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/api/sessions/[^/]+$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/[^/]+/auth/qr$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(QR_PNG, "image/png"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/[^/]+/auth/request-code$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"code": "ABCD-EFGH"})))
        .mount(&server)
        .await;
    let sent = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/api/sendText"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let n = sent.fetch_add(1, Ordering::SeqCst);
            let chat = body["chatId"].as_str().unwrap_or_default();
            ResponseTemplate::new(201).set_body_json(json!({
                "id": format!("true_{chat}_OUT{n}"), "timestamp": 1_749_416_400,
                "from": chat, "fromMe": true, "body": body["text"], "hasMedia": false}))
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let said = |role: &str| {
                body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["role"] == role)
                    .filter_map(|m| m["content"].as_str())
                    .next_back()
                    .unwrap_or_default()
                    .to_string()
            };
            let content = format!("{} to: {}", said("system"), said("user"));
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop"}]}))
        })
        .mount(&server)
        .await;
    server
}

/// An app whose WAHA (WAHA_BASE_URL, WAHA_API_KEY) and LLM are `fake`, on `db`.
async fn app_on(fake: &MockServer, db: &TestDb) -> TestApp {
    let base: url::Url = fake.uri().parse().unwrap();
    TestApp::builder()
        .db(db)
        .config(move |c| {
            c.channels.waha_base_url = Some(base.clone());
            c.channels.waha_api_key = Some(WAHA_KEY.into());
            c.providers.openai_base_url = base.join("/v1").unwrap();
            c.providers.openai_api_key = Some("sk-server".into());
            c.public_base_url = "https://switchboard.example.test".parse().unwrap();
        })
        .spawn()
        .await
}

async fn app_with(fake: &MockServer) -> TestApp {
    app_on(fake, &TestDb::new().await).await
}

fn device_input(agent: &str, name: &str) -> Value {
    json!({"agentId": agent, "kind": "WHATSAPP_DEVICE", "name": name})
}

/// Connects a device as `org`'s admin: its id.
async fn connect_device(app: &TestApp, org: &str, input: Value) -> String {
    let answer = app
        .gql(Some(&app.admin(org)), DEVICE, json!({"input": input}))
        .await;
    let device = &answer["data"]["connectIntegration"];
    assert_eq!(device["state"], "CONNECTING", "{answer}");
    device["id"].as_str().unwrap().to_string()
}

fn session_of(integration: &str) -> String {
    format!("switchboard_{}", integration.replace('-', ""))
}

/// The webhook WAHA was asked to post the session's events to: its URL and HMAC key.
async fn webhook_of(fake: &MockServer, integration: &str) -> (String, String) {
    let session = session_of(integration);
    fake.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/sessions")
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .find(|body| body["name"] == session.as_str())
        .map(|body| {
            let hook = &body["config"]["webhooks"][0];
            assert_eq!(body["start"], false);
            assert_eq!(hook["events"], json!(["message", "session.status"]));
            (
                hook["url"].as_str().unwrap().to_string(),
                hook["hmac"]["key"].as_str().unwrap().to_string(),
            )
        })
        .expect("the session was created with its webhook")
}

fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Posts `event` as WAHA does, signed with `key` (unsigned with `None`): the HTTP status.
async fn post_event(app: &TestApp, integration: &str, key: Option<&str>, event: &Value) -> u16 {
    let body = serde_json::to_vec(event).unwrap();
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/webhooks/waha/{integration}")))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request
            .header("X-Webhook-Hmac", sign(key, &body))
            .header("X-Webhook-Hmac-Algorithm", "sha512");
    }
    request.body(body).send().await.unwrap().status().as_u16()
}

fn status_event(integration: &str, status: &str) -> Value {
    json!({"id": "evt_1", "timestamp": 1_749_416_383_000_i64, "event": "session.status",
        "session": session_of(integration), "engine": "WEBJS",
        "payload": {"status": status}})
}

fn message_event(integration: &str, id: &str, from: &str, body: &str) -> Value {
    json!({"id": "evt_2", "timestamp": 1_749_416_383_000_i64, "event": "message",
        "session": session_of(integration), "engine": "WEBJS",
        "payload": {"id": id, "timestamp": 1_749_416_383, "from": from, "fromMe": false,
            "to": "79990000000@c.us", "body": body, "hasMedia": false,
            "_data": {"notifyName": "Ana"}}})
}

/// WAHA's `/me` for the integration's session names `jid`.
async fn paired_as(fake: &MockServer, integration: &str, jid: &str) {
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/sessions/{}/me",
            session_of(integration)
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": jid, "pushName": "Acme Shop"})),
        )
        .mount(fake)
        .await;
}

/// Connects a device of `agent` and pairs it as `jid`: its id and HMAC key.
async fn pair(
    app: &TestApp,
    fake: &MockServer,
    org: &str,
    agent: &str,
    jid: &str,
) -> (String, String) {
    let id = connect_device(app, org, device_input(agent, jid)).await;
    let (_, key) = webhook_of(fake, &id).await;
    paired_as(fake, &id, jid).await;
    for status in ["SCAN_QR_CODE", "WORKING"] {
        assert_eq!(
            post_event(app, &id, Some(&key), &status_event(&id, status)).await,
            200
        );
    }
    (id, key)
}

async fn integration(app: &TestApp, org: &str, id: &str) -> Value {
    let answer = app
        .gql(Some(&app.admin(org)), INTEGRATION, json!({"id": id}))
        .await;
    answer["data"]["integration"].clone()
}

#[tokio::test]
async fn a_device_shows_its_qr_while_scanning_then_works_with_its_jid() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let admin = app.admin("acme");
    let answer = app
        .gql(
            Some(&admin),
            DEVICE,
            json!({"input": device_input(&agent, "Shop phone")}),
        )
        .await;
    let device = &answer["data"]["connectIntegration"];
    let id = device["id"].as_str().unwrap().to_string();
    assert_eq!(device["kind"], "WHATSAPP_DEVICE");
    assert_eq!(device["mode"], "WEBHOOK");
    assert_eq!(device["sessionStatus"], "STARTING");
    assert_eq!(device["identity"], session_of(&id).as_str());
    let (url, key) = webhook_of(&fake, &id).await;
    assert_eq!(
        url,
        format!("https://switchboard.example.test/webhooks/waha/{id}")
    );
    assert_eq!(key.len(), 48);
    let started = format!("/api/sessions/{}/start", session_of(&id));
    let asked = fake.received_requests().await.unwrap();
    assert!(asked.iter().any(|r| r.url.path() == started));

    let early = app.gql(Some(&admin), QR, json!({"id": id})).await;
    assert_eq!(error_code(&early), "CONFLICT", "{early}");
    assert_eq!(
        post_event(&app, &id, Some(&key), &status_event(&id, "SCAN_QR_CODE")).await,
        200
    );
    let qr = app.gql(Some(&admin), QR, json!({"id": id})).await;
    let data_url = qr["data"]["integrationQr"]
        .as_str()
        .unwrap_or_else(|| panic!("{qr}"));
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data_url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    assert_eq!(png, QR_PNG);
    let code = app
        .gql(
            Some(&admin),
            CODE,
            json!({"id": id, "phone": "+7 900 123-45-67"}),
        )
        .await;
    assert_eq!(code["data"]["requestPairingCode"], "ABCD-EFGH", "{code}");
    let asked = fake.received_requests().await.unwrap();
    let request_code = asked
        .iter()
        .find(|r| r.url.path().ends_with("/auth/request-code"))
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&request_code.body).unwrap(),
        json!({"phoneNumber": "79001234567"})
    );
    let scanning = integration(&app, "acme", &id).await;
    assert_eq!(scanning["state"], "CONNECTING");
    assert_eq!(scanning["sessionStatus"], "SCAN_QR_CODE");

    paired_as(&fake, &id, "79001234567@c.us").await;
    assert_eq!(
        post_event(&app, &id, Some(&key), &status_event(&id, "WORKING")).await,
        200
    );
    let working = integration(&app, "acme", &id).await;
    assert_eq!(working["state"], "CONNECTED");
    assert_eq!(working["sessionStatus"], "WORKING");
    assert_eq!(working["identity"], "79001234567@c.us");
    let gone = app.gql(Some(&admin), QR, json!({"id": id})).await;
    assert_eq!(error_code(&gone), "CONFLICT");
    let events = count(
        &app,
        "SELECT COUNT(*) FROM agent_events WHERE integration_id = $1",
        &id,
    )
    .await;
    assert_eq!(events, 2, "SCAN_QR_CODE and WORKING were each an event");
}

#[tokio::test]
async fn three_devices_of_three_agents_each_answer_only_their_own_customers() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let mut devices = Vec::new();
    for n in 1..=3 {
        let prompt = format!("You are agent {n}.");
        let agent = create_agent(&app, "acme", json!({"systemPrompt": prompt})).await;
        let jid = format!("7900000000{n}@c.us");
        let (id, key) = pair(&app, &fake, "acme", &agent, &jid).await;
        devices.push((agent, id, key));
    }
    for (n, (_, id, key)) in devices.iter().enumerate() {
        let event = message_event(
            id,
            &format!("false_7911{n}@c.us_3EB0{n}"),
            &format!("7911000000{n}@c.us"),
            "Do you deliver?",
        );
        assert_eq!(post_event(&app, id, Some(key), &event).await, 200);
    }
    for (n, (agent, id, _)) in devices.iter().enumerate() {
        let list = conversations_when(&app, "acme", Some(agent), |list| {
            list.len() == 1 && messages(&list[0]).iter().any(|m| m["delivery"] == "SENT")
        })
        .await;
        assert_eq!(list[0]["integrationId"], id.as_str());
        assert_eq!(list[0]["channel"], "whatsapp");
        assert_eq!(list[0]["remoteUserId"], format!("7911000000{n}@c.us"));
        let said = messages(&list[0]);
        assert_eq!(
            said[1]["text"],
            format!("You are agent {}. to: Do you deliver?", n + 1)
        );
    }
    let sent: Vec<Value> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/sendText")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 3);
    for (n, (_, id, _)) in devices.iter().enumerate() {
        let body = sent
            .iter()
            .find(|body| body["session"] == session_of(id).as_str())
            .unwrap();
        assert_eq!(body["chatId"], format!("7911000000{n}@c.us"));
        assert_eq!(
            body["text"],
            format!("You are agent {}. to: Do you deliver?", n + 1)
        );
    }
    let asked = fake.received_requests().await.unwrap();
    assert!(asked
        .iter()
        .filter(|r| r.url.path().starts_with("/api/"))
        .all(|r| r.headers.get("x-api-key").unwrap() == WAHA_KEY));
}

#[tokio::test]
async fn a_device_paired_again_as_a_new_integration_keeps_its_conversations() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({"systemPrompt": "Shop"})).await;
    let jid = "79001234567@c.us";
    let (first, key) = pair(&app, &fake, "acme", &agent, jid).await;
    let customer = "79115550000@c.us";
    let hello = message_event(&first, "false_1_A", customer, "Hello");
    assert_eq!(post_event(&app, &first, Some(&key), &hello).await, 200);
    let before = conversations_when(&app, "acme", None, |l| {
        l.len() == 1 && messages(&l[0]).len() == 2
    })
    .await;
    let conversation = before[0]["id"].clone();
    let admin = app.admin("acme");
    let off = app
        .gql(Some(&admin), DISCONNECT, json!({"id": first}))
        .await;
    assert_eq!(
        off["data"]["disconnectIntegration"]["state"],
        "DISCONNECTED"
    );
    let deleted = format!("/api/sessions/{}", session_of(&first));
    let asked = fake.received_requests().await.unwrap();
    assert!(asked
        .iter()
        .any(|r| r.method.as_str() == "DELETE" && r.url.path() == deleted));
    // A resend to the old session's URL after it was disconnected changes nothing.
    assert_eq!(post_event(&app, &first, Some(&key), &hello).await, 200);

    let (second, key) = pair(&app, &fake, "acme", &agent, jid).await;
    assert_ne!(first, second);
    let again = message_event(&second, "false_1_B", customer, "Still there?");
    assert_eq!(post_event(&app, &second, Some(&key), &again).await, 200);
    let after = conversations_when(&app, "acme", None, |l| {
        l.len() == 1 && messages(&l[0]).len() == 4
    })
    .await;
    assert_eq!(
        after[0]["id"], conversation,
        "the same conversation carries on"
    );
    assert_eq!(after[0]["integrationId"], second.as_str());
    let said: Vec<Value> = messages(&after[0])
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(said[0], "Hello");
    assert_eq!(said[2], "Still there?");
}

#[tokio::test]
async fn a_failed_session_degrades_health_and_is_an_event() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (first, key) = pair(&app, &fake, "acme", &agent, "79001234567@c.us").await;
    pair(&app, &fake, "acme", &agent, "79001234568@c.us").await;
    let health = || async {
        let answer = reqwest::get(app.url("/api/health")).await.unwrap();
        answer.json::<Value>().await.unwrap()["results"].clone()
    };
    let up = health().await;
    assert_eq!(up["status"], "healthy");
    assert_eq!(
        up["whatsapp"],
        json!({"total_devices": 2, "connected_devices": 2})
    );
    assert_eq!(
        post_event(&app, &first, Some(&key), &status_event(&first, "FAILED")).await,
        200
    );
    let down = health().await;
    assert_eq!(down["status"], "degraded");
    assert_eq!(
        down["whatsapp"],
        json!({"total_devices": 2, "connected_devices": 1})
    );
    let failed = integration(&app, "acme", &first).await;
    assert_eq!(failed["state"], "FAILED");
    assert_eq!(failed["sessionStatus"], "FAILED");
    assert_eq!(failed["stateReason"], "WAHA session FAILED");
    let graphql = app
        .gql(
            None,
            "{ health { status integrations { kind total connected } } }",
            json!({}),
        )
        .await;
    assert_eq!(graphql["data"]["health"]["status"], "DEGRADED");
    let kinds = graphql["data"]["health"]["integrations"]
        .as_array()
        .unwrap();
    assert!(kinds.contains(&json!({"kind": "WHATSAPP_DEVICE", "total": 2, "connected": 1})));
    let detail = app
        .sql_text(
            "SELECT detail FROM agent_events WHERE integration_id = $1 ORDER BY sequence DESC",
            &first,
        )
        .await;
    assert!(detail.contains("failed: WAHA session FAILED"), "{detail}");
}

#[tokio::test]
async fn a_bad_or_missing_hmac_is_refused_and_stores_nothing() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (id, key) = pair(&app, &fake, "acme", &agent, "79001234567@c.us").await;
    let event = message_event(&id, "false_1_A", "79115550000@c.us", "Hello");
    assert_eq!(post_event(&app, &id, None, &event).await, 401);
    assert_eq!(post_event(&app, &id, Some("guessed"), &event).await, 401);
    let body = serde_json::to_vec(&event).unwrap();
    let client = reqwest::Client::new();
    let url = app.url(&format!("/webhooks/waha/{id}"));
    let other_algorithm = client
        .post(&url)
        .header("X-Webhook-Hmac", sign(&key, &body))
        .header("X-Webhook-Hmac-Algorithm", "sha256")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(other_algorithm.status(), 401);
    let mut altered = body.clone();
    altered.push(b' ');
    let altered = client
        .post(&url)
        .header("X-Webhook-Hmac", sign(&key, &body))
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(altered.status(), 401, "the raw body is what is signed");
    let failing = status_event(&id, "FAILED");
    assert_eq!(post_event(&app, &id, Some("guessed"), &failing).await, 401);
    for unknown in ["not-a-uuid", "5b4a7c1e-0000-4000-8000-000000000000"] {
        let refused = client
            .post(app.url(&format!("/webhooks/waha/{unknown}")))
            .header("X-Webhook-Hmac", sign(&key, &body))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }
    assert!(jobs_of(&app, INBOUND_JOB).await.is_empty());
    assert_eq!(integration(&app, "acme", &id).await["state"], "CONNECTED");
}

#[tokio::test]
async fn a_resent_message_is_one_and_groups_statuses_and_echoes_are_skipped() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (id, key) = pair(&app, &fake, "acme", &agent, "79001234567@c.us").await;
    let event = message_event(&id, "false_1_A", "79115550000@c.us", "Hello");
    for _ in 0..3 {
        assert_eq!(post_event(&app, &id, Some(&key), &event).await, 200);
    }
    let mut group = message_event(&id, "false_g_B", "120363@g.us", "Hi all");
    group["payload"]["participant"] = json!("79115550001@c.us");
    let status = message_event(&id, "false_s_C", "status@broadcast", "My story");
    let mut echo = message_event(&id, "true_1_D", "79115550000@c.us", "Sent from the phone");
    echo["payload"]["fromMe"] = json!(true);
    let mut media = message_event(&id, "false_1_E", "79115550000@c.us", "");
    media["payload"]["hasMedia"] = json!(true);
    let other_session = json!({"event": "message", "session": "default",
        "payload": event["payload"].clone()});
    for skipped in [group, status, echo, media, other_session] {
        assert_eq!(post_event(&app, &id, Some(&key), &skipped).await, 200);
    }
    let jobs = jobs_of(&app, INBOUND_JOB).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["message"]["provider_message_id"], "false_1_A");
    assert_eq!(jobs[0]["message"]["remote_user_name"], "Ana");
    let list = conversations_when(&app, "acme", None, |l| {
        l.len() == 1 && messages(&l[0]).len() == 2
    })
    .await;
    assert_eq!(messages(&list[0])[0]["text"], "Hello");
}

#[tokio::test]
async fn the_waha_key_is_never_answered_and_its_own_server_is_used() {
    let fake = waha_fake().await;
    let own = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/sessions"))
        .and(header("x-api-key", OWN_KEY))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"status": "STOPPED"})))
        .expect(1)
        .mount(&own)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/sessions/[^/]+/start$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"status": "STARTING"})))
        .expect(1)
        .mount(&own)
        .await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let mut input = device_input(&agent, "Own server");
    input["whatsappDevice"] = json!({"wahaBaseUrl": own.uri(), "wahaApiKey": OWN_KEY});
    let id = connect_device(&app, "acme", input).await;
    let admin = app.admin("acme");
    let answers = [
        app.gql(
            Some(&admin),
            "{ integrations { id kind identity mode state sessionStatus stateReason } }",
            json!({}),
        )
        .await,
        integration(&app, "acme", &id).await,
        app.gql(
            Some(&admin),
            "{ __type(name: \"Integration\") { fields { name } } }",
            json!({}),
        )
        .await,
    ];
    let said = format!("{answers:?}");
    assert!(said.contains(&id));
    for secret in [OWN_KEY, WAHA_KEY] {
        assert!(!said.contains(secret), "{secret} was said: {said}");
    }
    let sealed = app
        .sql_text("SELECT credentials FROM integrations WHERE id = $1", &id)
        .await;
    assert!(!sealed.contains(OWN_KEY), "sealed at rest");
    let bad = connect(
        &app,
        "acme",
        json!({"agentId": agent, "kind": "WHATSAPP_DEVICE", "name": "x",
            "whatsappDevice": {"wahaBaseUrl": "waha:3000"}}),
    )
    .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    let mixed = connect(
        &app,
        "acme",
        json!({"agentId": agent, "kind": "WHATSAPP_DEVICE", "name": "x",
            "telegram": {"botToken": BOT_TOKEN}}),
    )
    .await;
    assert_eq!(error_code(&mixed), "BAD_USER_INPUT");
}

#[tokio::test]
async fn without_a_waha_server_a_device_is_not_configured() {
    let app = TestApp::spawn().await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", device_input(&agent, "Phone")).await;
    assert_eq!(error_code(&answer), "NOT_CONFIGURED", "{answer}");
    let none = app
        .gql(
            Some(&app.admin("acme")),
            "{ integrations { id } }",
            json!({}),
        )
        .await;
    assert_eq!(none["data"]["integrations"], json!([]), "nothing was kept");
}

#[tokio::test]
async fn another_organisation_and_a_viewer_are_refused_the_qr_and_pairing_code() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let id = connect_device(&app, "acme", device_input(&agent, "Phone")).await;
    let (_, key) = webhook_of(&fake, &id).await;
    post_event(&app, &id, Some(&key), &status_event(&id, "SCAN_QR_CODE")).await;
    let stranger = app.admin("globex");
    let viewer = app.token("vic", "acme", Role::Viewer);
    let manager = app.token("mia", "acme", Role::Manager);
    let cases = [
        (&stranger, "NOT_FOUND"),
        (&viewer, "FORBIDDEN"),
        (&manager, "FORBIDDEN"),
    ];
    for (who, code) in cases {
        let qr = app.gql(Some(who), QR, json!({"id": id})).await;
        assert_eq!(error_code(&qr), code, "{qr}");
        let pairing = app
            .gql(Some(who), CODE, json!({"id": id, "phone": "79001234567"}))
            .await;
        assert_eq!(error_code(&pairing), code, "{pairing}");
    }
    let viewer_connect = app
        .gql(
            Some(&viewer),
            DEVICE,
            json!({"input": device_input(&agent, "x")}),
        )
        .await;
    assert_eq!(error_code(&viewer_connect), "FORBIDDEN");
    let not_a_device = connect(
        &app,
        "acme",
        json!({"agentId": agent, "kind": "SANDBOX", "name": "Try"}),
    )
    .await;
    let sandbox = connected_id(&not_a_device);
    let admin = app.admin("acme");
    let refused = app.gql(Some(&admin), QR, json!({"id": sandbox})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    let bad_phone = app
        .gql(Some(&admin), CODE, json!({"id": id, "phone": "call me"}))
        .await;
    assert_eq!(error_code(&bad_phone), "BAD_USER_INPUT");
}

#[tokio::test]
async fn in_the_sandbox_a_device_shows_a_qr_then_pairs_and_its_customer_is_answered() {
    let app = TestApp::builder()
        .config(|c| c.sandbox = true)
        .spawn()
        .await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let admin = app.admin("acme");
    let answer = app
        .gql(
            Some(&admin),
            DEVICE,
            json!({"input": device_input(&agent, "Sandbox phone")}),
        )
        .await;
    let device = &answer["data"]["connectIntegration"];
    let id = device["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    assert_eq!(device["sessionStatus"], "SCAN_QR_CODE");
    let qr = app.gql(Some(&admin), QR, json!({"id": id})).await;
    let data_url = qr["data"]["integrationQr"]
        .as_str()
        .unwrap_or_else(|| panic!("{qr}"));
    assert!(data_url.starts_with("data:image/png;base64,iVBORw0KGgo"));
    eventually("the sandbox device pairing", || async {
        integration(&app, "acme", &id).await["state"] == "CONNECTED"
    })
    .await;
    let paired = integration(&app, "acme", &id).await;
    assert_eq!(paired["sessionStatus"], "WORKING");
    assert!(paired["identity"].as_str().unwrap().ends_with("@c.us"));
    let played = app
        .gql(
            Some(&app.token("mia", "acme", Role::Manager)),
            "mutation($i: ID!) { sandboxSendCustomerMessage(integrationId: $i, customer: \"Ana\", text: \"Open today?\") }",
            json!({"i": id}),
        )
        .await;
    assert_eq!(
        played["data"]["sandboxSendCustomerMessage"], true,
        "{played}"
    );
    let list = conversations_when(&app, "acme", None, |l| {
        l.len() == 1 && messages(&l[0]).iter().any(|m| m["delivery"] == "SENT")
    })
    .await;
    assert_eq!(list[0]["channel"], "whatsapp");
}

#[tokio::test]
async fn a_broadcast_goes_out_from_a_paired_device_to_numbers_and_chat_ids() {
    let fake = waha_fake().await;
    let app = app_with(&fake).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (device, _) = pair(&app, &fake, "acme", &agent, "79001234567@c.us").await;
    let input = json!({"agentId": agent, "integrationId": device, "message": "Spring sale!",
        "recipients": ["+7 911 555-00-01", "79115550001@c.us", "79115550002@s.whatsapp.net"]});
    let id = crate::broadcasts::create_ok(&app, "acme", input).await;
    let done = crate::broadcasts::wait_for(&app, "acme", &id, "COMPLETED").await;
    assert_eq!(
        done["total"], 2,
        "one number written two ways is one recipient"
    );
    let mut sent: Vec<(String, String)> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/sendText")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .map(|body| {
            assert_eq!(body["session"], session_of(&device).as_str());
            (
                body["chatId"].as_str().unwrap().to_string(),
                body["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("79115550001@c.us".to_string(), "Spring sale!".to_string()),
            ("79115550002@c.us".to_string(), "Spring sale!".to_string()),
        ]
    );
    let group = crate::broadcasts::create(
        &app,
        "acme",
        json!({"agentId": agent, "integrationId": device, "message": "Hi",
            "recipients": ["120363@g.us"]}),
    )
    .await;
    assert_eq!(error_code(&group), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_waha_that_fails_at_connect_keeps_nothing_and_leaks_nothing() {
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/sessions"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>proxy error</html>"))
        .mount(&down)
        .await;
    let app = app_with(&down).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let answer = connect(&app, "acme", device_input(&agent, "Phone")).await;
    assert_eq!(error_code(&answer), "PROVIDER_ERROR", "{answer}");
    assert!(!answer.to_string().contains(WAHA_KEY));
    let none = app
        .gql(
            Some(&app.admin("acme")),
            "{ integrations { id } }",
            json!({}),
        )
        .await;
    assert_eq!(none["data"]["integrations"], json!([]), "nothing was kept");
}
