//! What operators look at: liveness, readiness, metrics and request ids.

use serde_json::{json, Value};

use crate::common::TestApp;

#[tokio::test]
async fn metrics_answer_only_the_metrics_token_once_one_is_set() {
    const TOKEN: &str = "scraper-token-0123456789";
    let app = TestApp::builder()
        .config(|c| c.metrics_token = Some(TOKEN.into()))
        .spawn()
        .await;
    let scrape = |credential: Option<String>| {
        let mut request = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        request.send()
    };
    // An organisation's admin is not the operator: metrics count every organisation.
    for refused in [None, Some("wrong".to_string()), Some(app.admin("acme"))] {
        let response = scrape(refused.clone()).await.unwrap();
        assert_eq!(response.status(), 401, "{refused:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED", "{body}");
    }
    let scraped = scrape(Some(TOKEN.into())).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("switchboard_jobs"));
}

#[tokio::test]
async fn operations_endpoints_answer_and_every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    let healthz = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(healthz.status(), 200);
    assert!(healthz.headers().get("x-request-id").is_some());
    let readyz: Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["database"], "up");
    app.gql(None, "{ health { status } }", json!({})).await;
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("switchboard_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_jobs{state=\"queued\"}"),
        "{metrics}"
    );
    // A request id sent by the caller is kept, so logs line up across services.
    let echoed = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
    let dashboard = app.get_text("/playground").await;
    assert!(
        dashboard.contains("graphql-transport-ws"),
        "the dashboard follows subscriptions live"
    );
}
