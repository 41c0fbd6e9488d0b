//! GraphQL over HTTP and Server-Sent Events, and what the server answers to requests that
//! are not GraphQL's.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::auth::Role;

use crate::common::follow::FOLLOW;
use crate::common::scene::{token_about_to_expire, Scene};
use crate::common::{error_code, TestApp, VIEWER_QUERY};

#[tokio::test]
async fn a_request_body_over_the_limit_is_refused_with_413_in_the_routes_json() {
    let app = TestApp::builder()
        .config(|c| c.graphql.body_limit = 1024)
        .spawn()
        .await;
    let token = app.token("ann", "acme", Role::Manager);
    let padding = "x".repeat(4096);
    let graphql = json!({"query": format!("{{ health {{ status }} }} # {padding}")}).to_string();
    let rest = json!({"meet_url": padding, "bot_name": "Scribe"}).to_string();
    // Announced by its length, and streamed without one (found out only while reading).
    for streamed in [false, true] {
        for (path, body) in [("/graphql", &graphql), ("/api/v1/meet/trigger", &rest)] {
            let body = if streamed {
                let chunks = [Ok::<_, std::io::Error>(body.clone())];
                reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
            } else {
                reqwest::Body::from(body.clone())
            };
            let response = reqwest::Client::new()
                .post(app.url(path))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 413, "{path}, streamed: {streamed}");
            let answer: Value = response.json().await.unwrap();
            let code = match path {
                "/graphql" => error_code(&answer),
                _ => answer["code"].as_str().unwrap_or("<no code>"),
            };
            assert_eq!(
                code, "BAD_USER_INPUT",
                "{path}, streamed: {streamed}: {answer}"
            );
        }
    }
}

/// The status and JSON body of a raw request.
async fn raw(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("HTTP {status} answered with non-JSON: {text:?}"));
    (status, body)
}

#[tokio::test]
async fn a_body_that_is_not_one_graphql_request_gets_400_with_a_graphql_error() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for (path, body) in [
        ("/graphql", "\u{0}{{{ not json".to_string()),
        ("/graphql", json!({"query": 5}).to_string()),
        (
            "/graphql",
            json!([{"query": "{ health { status } }"}, {"query": "{ health { status } }"}])
                .to_string(),
        ),
        ("/graphql/sse", "nope".to_string()),
    ] {
        let (status, answer) = raw(client.post(app.url(path)).body(body.clone())).await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "BAD_USER_INPUT"),
            "{path} {body}: {answer}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.contains("InvalidRequest") && !message.contains("Error("),
            "{message}"
        );
    }
    let (status, answer) =
        raw(client.get(app.url("/graphql/sse?query={health{status}}&variables=%7B"))).await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, "BAD_USER_INPUT"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_refused_with_405_and_not_run() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let mutation = r#"mutation { createApiKey(name: "via-get") { secret } }"#;
    let url = |params: &[(&str, &str)]| {
        url::Url::parse_with_params(&app.url("/graphql"), params).unwrap()
    };
    let response = reqwest::Client::new()
        .get(url(&[("query", mutation)]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    let keys = app
        .gql(Some(&admin), "{ apiKeys { name } }", json!({}))
        .await;
    assert_eq!(
        keys["data"]["apiKeys"],
        json!([]),
        "the mutation must not have run"
    );
    // In a document of several operations, the one named decides.
    let both = format!(
        "query Q {{ health {{ status }} }} mutation M {}",
        &mutation[9..]
    );
    let named = |name: &str| {
        reqwest::Client::new()
            .get(url(&[("query", &both), ("operationName", name)]))
            .bearer_auth(&admin)
            .send()
    };
    let answer: Value = named("Q").await.unwrap().json().await.unwrap();
    assert_eq!(answer["data"]["health"]["status"], "HEALTHY", "{answer}");
    assert_eq!(named("M").await.unwrap().status(), 405);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_upgrades_answer_in_json() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let (status, body) = raw(client.get(app.url("/api/v1/nope"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );
    let (status, body) = raw(client.delete(app.url("/api/v1/meet/trigger"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("BAD_USER_INPUT")),
        "{body}"
    );
    // A GET to the WebSocket route without the upgrade: a GraphQL route, so a GraphQL error.
    let (status, body) = raw(client.get(app.url("/graphql/ws"))).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "BAD_USER_INPUT"),
        "{body}"
    );
    // An upgrade in a WebSocket version other than RFC 6455's, or without its key.
    let upgrade = || {
        client
            .get(app.url("/graphql/ws"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
    };
    let refusals = [
        (
            upgrade()
                .header("sec-websocket-version", "8")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            "Sec-WebSocket-Version",
        ),
        (
            upgrade().header("sec-websocket-version", "13"),
            "Sec-WebSocket-Key",
        ),
    ];
    for (request, named) in refusals {
        let (status, body) = raw(request).await;
        assert_eq!((status, error_code(&body)), (400, "BAD_USER_INPUT"));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{body}");
    }
}

#[tokio::test]
async fn get_without_a_query_serves_graphiql_and_with_one_runs_it() {
    let app = TestApp::spawn().await;
    let page = app.get_text("/graphql").await;
    assert!(page.contains("graphiql"), "GraphiQL page expected");
    let answer: Value =
        reqwest::get(app.url("/graphql?query=%7B%20health%20%7B%20status%20%7D%20%7D"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(answer["data"]["health"]["status"], "HEALTHY");
}

#[tokio::test]
async fn operations_run_over_server_sent_events_with_the_callers_token() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let body = reqwest::Client::new()
        .post(app.url("/graphql/sse"))
        .bearer_auth(&token)
        .json(&json!({"query": VIEWER_QUERY}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("event: next"), "{body}");
    assert!(body.contains("\"organisationId\":\"acme\""), "{body}");
    assert!(body.contains("event: complete"), "{body}");
}

#[tokio::test]
async fn a_mutation_sent_by_get_over_server_sent_events_is_refused_not_run() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mutation = "mutation { createApiKey(name: \"by-get\", role: VIEWER) { secret } }";
    let url = url::Url::parse_with_params(&app.url("/graphql/sse"), [("query", mutation)]).unwrap();
    let body = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("BAD_USER_INPUT") && body.contains("need POST"),
        "{body}"
    );
    let keys = app
        .gql(Some(&token), "{ apiKeys { name } }", json!({}))
        .await;
    assert_eq!(keys["data"]["apiKeys"], json!([]), "no key was made");
}

#[tokio::test]
async fn an_sse_stream_whose_token_expires_ends_with_unauthenticated() {
    let Scene { app, bot: id, .. } = Scene::checking_every_second().await;
    let body = json!({"query": FOLLOW, "variables": {"id": id}});
    let response = reqwest::Client::new()
        .post(app.url("/graphql/sse"))
        .bearer_auth(token_about_to_expire(&app))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends once the token has expired")
        .unwrap();
    let events: Vec<(&str, &str)> = stream
        .split("\n\n")
        .filter_map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("");
            Some((name, data))
        })
        .collect();
    assert_eq!(events.len(), 3, "{stream}");
    assert!(events[0].1.contains("INITIALIZED"), "{stream}");
    let refusal: Value = serde_json::from_str(events[1].1).unwrap();
    assert_eq!(
        refusal["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(events[2].0, "complete");
}
