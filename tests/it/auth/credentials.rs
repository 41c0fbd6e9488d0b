//! A credential that is presented must be good: a garbage or expired token, or an unknown or
//! revoked API key, has the whole request refused with UNAUTHENTICATED on every transport,
//! public fields included; a request with no credential still reads the public fields.

use crate::common::{error_code, Frame, TestApp};
use serde_json::{json, Value};
use switchboard::auth::jwt::Claims;
use switchboard::auth::Role;

const HEALTH: &str = "{ health { status } }";

/// How a request carries its credential.
#[derive(Clone, Copy)]
enum Sent<'a> {
    Nothing,
    Bearer(&'a str),
    /// The whole `Authorization` header, as written.
    Authorization(&'a str),
}

impl Sent<'_> {
    fn on(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Sent::Nothing => request,
            Sent::Bearer(credential) => request.bearer_auth(credential),
            Sent::Authorization(header) => request.header("authorization", header),
        }
    }
}

/// `{ health { status } }` asked with `sent` over POST and GET /graphql and POST and GET
/// /graphql/sse: each transport's name and GraphQL response.
async fn health_everywhere(app: &TestApp, sent: Sent<'_>) -> Vec<(&'static str, Value)> {
    let client = reqwest::Client::new();
    let with_query = |path: &str| url::Url::parse_with_params(&app.url(path), [("query", HEALTH)]);
    let post = |path: &str| client.post(app.url(path)).json(&json!({ "query": HEALTH }));
    let requests = [
        ("POST /graphql", post("/graphql")),
        ("GET /graphql", client.get(with_query("/graphql").unwrap())),
        ("POST /graphql/sse", post("/graphql/sse")),
        (
            "GET /graphql/sse",
            client.get(with_query("/graphql/sse").unwrap()),
        ),
    ];
    let mut answers = vec![];
    for (transport, request) in requests {
        let response = sent.on(request).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{transport}: HTTP {}",
            response.status()
        );
        let body = response.text().await.unwrap();
        let answer = if transport.ends_with("sse") {
            first_next_event(&body)
        } else {
            serde_json::from_str(&body).unwrap()
        };
        answers.push((transport, answer));
    }
    answers
}

/// The payload of the first `next` event of a Server-Sent Events body, which must end with
/// `complete`.
fn first_next_event(body: &str) -> Value {
    assert!(body.contains("event: complete"), "{body}");
    let data = body
        .split("\n\n")
        .find(|event| event.lines().any(|line| line == "event: next"))
        .and_then(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .unwrap_or_else(|| panic!("no next event in {body}"));
    serde_json::from_str(data).unwrap()
}

/// Every transport refuses `sent` with UNAUTHENTICATED and `reason`, and answers nothing.
async fn assert_refused_everywhere(app: &TestApp, sent: Sent<'_>, reason: &str) {
    for (transport, answer) in health_everywhere(app, sent).await {
        assert_eq!(
            error_code(&answer),
            "UNAUTHENTICATED",
            "{transport}: {answer}"
        );
        assert_eq!(answer["errors"][0]["message"], reason, "{transport}");
        assert_eq!(answer["data"], Value::Null, "{transport}: {answer}");
    }
}

fn expired_token(app: &TestApp) -> String {
    let now = chrono::Utc::now().timestamp();
    app.services
        .jwt
        .sign(&Claims {
            sub: "ann".into(),
            org: Some("acme".into()),
            role: Some("admin".into()),
            exp: now - 600,
            iat: now - 1200,
        })
        .unwrap()
}

#[tokio::test]
async fn health_answers_a_request_with_no_credential_or_a_good_one_on_every_transport() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Viewer);
    for sent in [Sent::Nothing, Sent::Bearer(&token)] {
        for (transport, answer) in health_everywhere(&app, sent).await {
            assert_eq!(
                answer["data"]["health"]["status"], "HEALTHY",
                "{transport}: {answer}"
            );
            assert!(answer.get("errors").is_none(), "{transport}: {answer}");
        }
    }
}

#[tokio::test]
async fn a_garbage_token_is_refused_even_for_health() {
    let app = TestApp::spawn().await;
    assert_refused_everywhere(&app, Sent::Bearer("not.a.jwt"), "token is malformed").await;
    assert_refused_everywhere(
        &app,
        Sent::Authorization("Basic YW5uOnNlY3JldA=="),
        "Authorization must be 'Bearer <token>'",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused_even_for_health() {
    let app = TestApp::spawn().await;
    let expired = expired_token(&app);
    assert_refused_everywhere(&app, Sent::Bearer(&expired), "token expired").await;
}

#[tokio::test]
async fn a_revoked_or_unknown_api_key_is_refused_even_for_health() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let created = app
        .gql(
            Some(&admin),
            "mutation { createApiKey(name: \"crm\", role: VIEWER) { secret apiKey { id } } }",
            json!({}),
        )
        .await;
    let secret = created["data"]["createApiKey"]["secret"].as_str().unwrap();
    let id = &created["data"]["createApiKey"]["apiKey"]["id"];
    let before = app.gql(Some(secret), HEALTH, json!({})).await;
    assert_eq!(before["data"]["health"]["status"], "HEALTHY", "{before}");

    let revoked = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(revoked["data"]["revokeApiKey"]["revokedAt"].is_string());
    assert_refused_everywhere(&app, Sent::Bearer(secret), "API key revoked").await;
    assert_refused_everywhere(&app, Sent::Bearer("sb_no-such-key"), "unknown API key").await;
}

#[tokio::test]
async fn a_refused_credential_on_a_rest_route_is_a_401_with_a_json_body() {
    let app = TestApp::spawn().await;
    let expired = expired_token(&app);
    let client = reqwest::Client::new();
    let bot = uuid::Uuid::new_v4();
    for (credential, reason) in [
        ("not.a.jwt", "token is malformed"),
        (expired.as_str(), "token expired"),
        ("sb_no-such-key", "unknown API key"),
    ] {
        let requests = [
            client.get(app.url(&format!("/api/v1/meet/status/{bot}"))),
            client
                .post(app.url("/api/v1/meet/trigger"))
                .json(&json!({"meet_url": "https://meet.google.com/abc-defg-hij"})),
        ];
        for request in requests {
            let response = request.bearer_auth(credential).send().await.unwrap();
            assert_eq!(response.status(), 401, "{credential}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body,
                json!({"code": "UNAUTHENTICATED", "detail": reason}),
                "{credential}"
            );
        }
    }
}

#[tokio::test]
async fn a_websocket_whose_init_carries_an_expired_token_is_closed_with_4403() {
    let app = TestApp::spawn().await;
    let expired = expired_token(&app);
    let mut ws = app.ws("graphql-transport-ws").await;
    match ws.init(json!({ "token": expired })).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("token expired"), "{reason}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}
