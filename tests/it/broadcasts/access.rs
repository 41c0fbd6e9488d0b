//! The seed's routes over the same broadcasts, and who may do what: another organisation
//! sees nothing, a viewer reads but neither creates nor cancels.

use serde_json::{json, Value};

use super::fakes::Telegram;
use super::{app_on, chats, create, create_ok, telegram_agent, wait_for};
use crate::common::{error_code, TestApp, TestDb};
use switchboard::auth::Role;

async fn rest(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_seed_routes_create_a_broadcast_and_report_it() {
    let (server, telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, _integration) = telegram_agent(&app, "acme").await;
    let admin = app.admin("acme");
    let path = format!("/api/agents/{agent}/settings/broadcast");
    let body = json!({"message": "Hello! This is a test broadcast message.",
        "integration_type": "telegram", "recipients": ["1000001", "1000002", "1000001"],
        "scheduled_at": null});
    let (status, created) = rest(&app, &admin, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["success"], true);
    let broadcast = &created["broadcast"];
    assert_eq!(broadcast["status"], "pending");
    assert_eq!(broadcast["integration_type"], "telegram");
    assert_eq!(broadcast["total_recipients"], 2);
    let id = broadcast["id"].as_str().unwrap();

    wait_for(&app, "acme", id, "COMPLETED").await;
    let (status, report) = rest(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!("{path}/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "completed");
    assert_eq!(report["sent_count"], 2);
    assert_eq!(report["failed_count"], 0);
    assert_eq!(report["pending_count"], 0);
    assert!(report["completed_at"].is_string());
    assert_eq!(telegram.sent_count(), 2);

    let (status, refused) = rest(
        &app,
        &admin,
        reqwest::Method::POST,
        &path,
        Some(
            json!({"message": "Hi", "integration_type": "whatsapp", "recipients": ["+1234567890"]}),
        ),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (status, _) = rest(
        &app,
        &admin,
        reqwest::Method::POST,
        &path,
        Some(json!({"message": 5})),
    )
    .await;
    assert_eq!(status, 422);
    // The broadcast is read under its own agent only.
    let (status, _) = rest(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!(
            "/api/agents/{}/settings/broadcast/{id}",
            uuid::Uuid::new_v4()
        ),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_organisation_and_a_viewer_are_refused() {
    let (server, _telegram) = Telegram::start().await;
    let app = app_on(&server, &TestDb::new().await, 1000).await;
    let (agent, integration) = telegram_agent(&app, "acme").await;
    let at = app.services.clock.now() + chrono::Duration::hours(1);
    let input = json!({"agentId": agent, "integrationId": integration, "message": "Hi",
        "recipients": chats(0..3), "scheduledAt": at.to_rfc3339()});
    let id = create_ok(&app, "acme", input.clone()).await;

    // Another organisation: nothing of acme's exists.
    let other = app.admin("globex");
    let read = app
        .gql(
            Some(&other),
            "query($id: ID!) { broadcast(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&read), "NOT_FOUND", "{read}");
    let listed = app
        .gql(
            Some(&other),
            "query($agent: ID!) { broadcasts(agentId: $agent) { edges { node { id } } } }",
            json!({"agent": agent}),
        )
        .await;
    assert_eq!(error_code(&listed), "NOT_FOUND", "{listed}");
    let created = create(&app, "globex", input.clone()).await;
    assert_eq!(error_code(&created), "NOT_FOUND", "{created}");
    let cancel = "mutation($id: ID!) { cancelBroadcast(id: $id) { status } }";
    let cancelled = app.gql(Some(&other), cancel, json!({"id": id})).await;
    assert_eq!(error_code(&cancelled), "NOT_FOUND", "{cancelled}");
    let path = format!("/api/agents/{agent}/settings/broadcast");
    let (status, _) = rest(
        &app,
        &other,
        reqwest::Method::GET,
        &format!("{path}/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let body = json!({"message": "Hi", "integration_type": "telegram", "recipients": ["1"]});
    let (status, _) = rest(
        &app,
        &other,
        reqwest::Method::POST,
        &path,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 404);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.authenticate(&other).await;
    ws.send(json!({"id": "p", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { broadcastProgress(broadcastId: $id) { status } }",
        "variables": {"id": id}}}))
        .await;
    let refused = ws.next_json().await;
    let code = &refused["payload"]["errors"][0]["extensions"]["code"];
    assert_eq!(code, "NOT_FOUND", "{refused}");

    // A viewer of acme reads, but neither creates nor cancels.
    let viewer = app.token("vic", "acme", Role::Viewer);
    let read = app
        .gql(
            Some(&viewer),
            "query($id: ID!) { broadcast(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(read["data"]["broadcast"]["status"], "SCHEDULED", "{read}");
    let created = app
        .gql(Some(&viewer), super::CREATE, json!({"input": input}))
        .await;
    assert_eq!(error_code(&created), "FORBIDDEN", "{created}");
    let cancelled = app.gql(Some(&viewer), cancel, json!({"id": id})).await;
    assert_eq!(error_code(&cancelled), "FORBIDDEN", "{cancelled}");
    let (status, _) = rest(&app, &viewer, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, 403);
    let (status, _) = rest(
        &app,
        &viewer,
        reqwest::Method::GET,
        &format!("{path}/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // The admin cancels; cancelling again answers the same.
    for _ in 0..2 {
        let answer = app
            .gql(Some(&app.admin("acme")), cancel, json!({"id": id}))
            .await;
        assert_eq!(
            answer["data"]["cancelBroadcast"]["status"], "CANCELLED",
            "{answer}"
        );
    }
}
