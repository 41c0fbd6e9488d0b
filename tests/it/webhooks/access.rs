//! Who may manage endpoints (admins of their own organisation), over GraphQL and REST; and
//! the addresses an endpoint may have.

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::meetings::BotStatus;

use super::receiver::Receiver;
use super::{deliveries_when, endpoint, move_bot, CREATE, DELIVERIES, ENDPOINT};
use crate::common::scene::{trigger_id, MEET};
use crate::common::{error_code, TestApp, TestDb};

const URL: &str = "https://hooks.example.com/switchboard";

async fn rest(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn managers_viewers_and_other_organisations_are_refused() {
    let app = TestApp::spawn().await;
    let (id, _) = endpoint(&app, "acme", URL, &["MEETING_COMPLETED"]).await;
    let manager = app.token("mia", "acme", Role::Manager);
    let viewer = app.token("vic", "acme", Role::Viewer);
    let stranger = app.admin("globex");
    let input = json!({"input": {"url": URL, "eventTypes": ["MEETING_FAILED"]}});

    for token in [&manager, &viewer] {
        assert_eq!(
            error_code(&app.gql(Some(token), CREATE, input.clone()).await),
            "FORBIDDEN"
        );
        let list = app
            .gql(Some(token), "{ webhookEndpoints { id } }", json!({}))
            .await;
        assert_eq!(error_code(&list), "FORBIDDEN");
        assert_eq!(
            error_code(&app.gql(Some(token), DELIVERIES, json!({"id": id})).await),
            "FORBIDDEN"
        );
        let (status, _) = rest(
            &app,
            reqwest::Method::GET,
            "/api/v1/webhook-endpoints",
            Some(token),
            None,
        )
        .await;
        assert_eq!(status, 403);
    }
    let none = app
        .gql(None, "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(error_code(&none), "UNAUTHENTICATED");
    let (status, _) = rest(
        &app,
        reqwest::Method::GET,
        "/api/v1/webhook-endpoints",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Another organisation's admin finds nothing to read or change.
    let theirs = app
        .gql(Some(&stranger), "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(theirs["data"]["webhookEndpoints"], json!([]));
    for (query, variables) in [
        (ENDPOINT, json!({"id": id})),
        (DELIVERIES, json!({"id": id})),
        (
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: false}) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { redeliverWebhook(eventId: $id, endpointId: $id) { id } }",
            json!({"id": id}),
        ),
    ] {
        let answer = app.gql(Some(&stranger), query, variables).await;
        assert_eq!(error_code(&answer), "NOT_FOUND", "{query}: {answer}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, _) = rest(
            &app,
            method,
            &format!("/api/v1/webhook-endpoints/{id}"),
            Some(&stranger),
            None,
        )
        .await;
        assert_eq!(status, 404);
    }
    let (status, _) = rest(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/webhook-endpoints/{id}/rotate-secret"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Still there, unchanged.
    let read = app
        .gql(Some(&app.admin("acme")), ENDPOINT, json!({"id": id}))
        .await;
    assert_eq!(read["data"]["webhookEndpoint"]["enabled"], true);
    // Ids that are no ids name nothing.
    let garbage = app
        .gql(
            Some(&app.admin("acme")),
            ENDPOINT,
            json!({"id": "'; DROP TABLE x"}),
        )
        .await;
    assert_eq!(error_code(&garbage), "NOT_FOUND");
}

#[tokio::test]
async fn an_admin_manages_endpoints_over_rest_and_the_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let body = json!({"url": URL, "event_types": ["bot.status_changed", "meeting.completed"], "description": "CRM"});
    let (status, created) = rest(
        &app,
        reqwest::Method::POST,
        "/api/v1/webhook-endpoints",
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        created["event_types"],
        json!(["bot.status_changed", "meeting.completed"])
    );
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/webhook-endpoints/{id}");

    let (_, list) = rest(
        &app,
        reqwest::Method::GET,
        "/api/v1/webhook-endpoints",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none());
    let (_, shown) = rest(&app, reqwest::Method::GET, &path, Some(&admin), None).await;
    assert!(shown.get("secret").is_none());
    assert!(!shown
        .to_string()
        .contains(created["secret"].as_str().unwrap()));

    let (status, changed) = rest(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"enabled": false, "event_types": ["message.created"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["event_types"], json!(["message.created"]));

    let (status, rotated) = rest(
        &app,
        reqwest::Method::POST,
        &format!("{path}/rotate-secret"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["previous_secret_expires_at"].is_string());

    for bad in [
        json!({"url": URL, "event_types": ["bot.exploded"]}),
        json!({"url": URL, "event_types": []}),
        json!({"url": "not a url", "event_types": ["meeting.failed"]}),
        json!({"url": "ftp://hooks.example.com/", "event_types": ["meeting.failed"]}),
        json!({"url": "https://user:pass@hooks.example.com/", "event_types": ["meeting.failed"]}),
        json!({"url": "https://hooks.example.com/\u{0}", "event_types": ["meeting.failed"]}),
    ] {
        let (status, answer) = rest(
            &app,
            reqwest::Method::POST,
            "/api/v1/webhook-endpoints",
            Some(&admin),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {answer}");
    }

    let (status, _) = rest(&app, reqwest::Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 200);
    let (status, _) = rest(&app, reqwest::Method::GET, &path, Some(&admin), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn private_addresses_and_plain_http_are_refused_without_the_setting() {
    let db = TestDb::new().await;
    let app = TestApp::builder()
        .db(&db)
        .config(|c| c.webhooks.allow_private = false)
        .spawn()
        .await;
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1:8443/",
        "https://localhost/",
        "https://10.0.0.7/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
    ] {
        let answer = app
            .gql(
                Some(&app.admin("acme")),
                CREATE,
                json!({"input": {"url": url, "eventTypes": ["MEETING_FAILED"]}}),
            )
            .await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{url}: {answer}");
    }
    endpoint(&app, "acme", URL, &["MEETING_FAILED"]).await;
}

#[tokio::test]
async fn an_endpoint_registered_while_private_addresses_were_allowed_is_refused_at_connection() {
    let db = TestDb::new().await;
    let receiver = Receiver::start().await;
    // Registered by an instance that allowed it and runs no jobs.
    let before = TestApp::builder()
        .db(&db)
        .config(|c| c.jobs.disabled = true)
        .spawn()
        .await;
    let https = receiver.url.replace("http://", "https://");
    let (id, _) = endpoint(&before, "acme", &https, &["BOT_STATUS_CHANGED"]).await;
    before.stop().await;

    let fakes = crate::common::fakes::Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = crate::common::scene::app_on(&db, &fakes, |c| c.webhooks.allow_private = false).await;
    let bot = trigger_id(&app, &app.token("ann", "acme", Role::Manager), MEET).await;
    move_bot(&app, &bot, BotStatus::Connecting).await;
    let log = deliveries_when(&app, "acme", &id, |log| {
        !log.is_empty() && log[0]["status"] == "FAILED"
    })
    .await;
    assert!(
        log[0]["lastError"].as_str().unwrap().contains("refused"),
        "{log:?}"
    );
    assert!(receiver.received().is_empty());
}
