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

#[tokio::test]
async fn a_server_out_of_file_descriptors_says_so_counts_it_and_serves_again_once_some_close() {
    use crate::common::binary::{Launch, Server};
    use std::time::Duration;

    let server = Server::launch(Launch {
        nofile: Some(64),
        log: true,
        ..Launch::default()
    })
    .await;
    // More connections than the server has descriptors: the kernel completes them all (the
    // listen backlog), the server accepts until it runs out.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    let mut log = String::new();
    for _ in 0..200 {
        log = server.log();
        if log.contains("out of file descriptors") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        log.contains("out of file descriptors (RLIMIT_NOFILE, `ulimit -n`, is 64)"),
        "the warning names the limit: {log}"
    );
    drop(held);

    // Once those close, the server accepts again, and its metrics have counted the refusals.
    let mut metrics = String::new();
    for _ in 0..200 {
        if let Ok(answer) = reqwest::get(format!("http://{}/metrics", server.addr)).await {
            metrics = answer.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchboard_connections_refused_total{reason=\"file_descriptors\"}")
        })
        .unwrap_or_else(|| panic!("no refusal counter: {metrics}"));
    let count: f64 = refused.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{refused}");
}
