//! Issue "Foundation" benchmark: GraphQL `{ health { status } }` and a one-row database read
//! over HTTP, against a plain axum handler doing the same work, in one run on one machine.
//!
//! `cargo bench --bench http_throughput` (BENCH_SECONDS, BENCH_CONNECTIONS to change the run).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use switchboard::auth::{api_keys, Caller, Role};
use switchboard::config::Config;
use switchboard::Services;

async fn plain_health(State(services): State<Services>) -> Json<serde_json::Value> {
    let up = services.db.ping().await.is_ok();
    Json(json!({"data": {"health": {"status": if up { "ok" } else { "degraded" }}}}))
}

/// What the GraphQL `apiKeys` read does, by hand: check the token, read the rows, answer JSON.
async fn plain_read(
    State(services): State<Services>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    let Caller::Known(viewer) = services.auth.from_headers(&headers).await else {
        return Json(json!({"errors": [{"message": "unauthenticated"}]}));
    };
    let keys = api_keys::entity::Entity::find()
        .filter(api_keys::entity::Column::OrgId.eq(&viewer.org_id))
        .all(&services.db)
        .await
        .unwrap_or_default();
    let keys: Vec<_> = keys
        .into_iter()
        .map(|k| json!({"id": k.id, "name": k.name}))
        .collect();
    Json(json!({"data": {"apiKeys": keys}}))
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let url = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
        let mut config = Config::for_tests(&url, &dir);
        config.jobs.disabled = true;
        let app = switchboard::build(config).await.unwrap();
        let services = app.services().clone();
        let token = services
            .jwt
            .issue("bench", Some("bench-org"), Role::Admin, 3600)
            .unwrap();
        let viewer = match services.auth.from_credential(&token).await {
            Caller::Known(viewer) => viewer,
            _ => unreachable!("fresh token"),
        };
        api_keys::create(&services.db, &viewer, "the one row", Role::Viewer)
            .await
            .unwrap();

        let graphql = serve(app.router()).await;
        let plain = serve(
            Router::new()
                .route("/health", get(plain_health))
                .route("/read", get(plain_read))
                .with_state(services.clone()),
        )
        .await;

        let auth = [("Authorization", format!("Bearer {token}"))];
        let duration = Duration::from_secs(seconds);
        let cases = [
            (
                "health",
                support::request(
                    graphql,
                    "POST",
                    "/graphql",
                    &[],
                    r#"{"query":"{ health { status } }"}"#,
                ),
                support::request(plain, "GET", "/health", &[], ""),
                "\"ok\"",
            ),
            (
                "one-row read",
                support::request(
                    graphql,
                    "POST",
                    "/graphql",
                    &auth,
                    r#"{"query":"{ apiKeys { id name } }"}"#,
                ),
                support::request(plain, "GET", "/read", &auth, ""),
                "the one row",
            ),
        ];
        println!(
            "{connections} connections, {seconds} s per measurement, database {}",
            if url.starts_with("postgres") {
                "Postgres"
            } else {
                "SQLite"
            }
        );
        println!(
            "| case | GraphQL req/s | plain axum req/s | ratio | GraphQL p99 ms | plain p99 ms |"
        );
        println!("|---|---|---|---|---|---|");
        for (name, graphql_request, plain_request, expect) in cases {
            // Warm both up, then measure each.
            support::run(
                graphql,
                graphql_request.clone(),
                expect,
                connections,
                Duration::from_millis(500),
            )
            .await;
            support::run(
                plain,
                plain_request.clone(),
                expect,
                connections,
                Duration::from_millis(500),
            )
            .await;
            let mut ours =
                support::run(graphql, graphql_request, expect, connections, duration).await;
            let mut base = support::run(plain, plain_request, expect, connections, duration).await;
            assert_eq!(
                ours.errors + base.errors,
                0,
                "every answer must be a correct 200"
            );
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} % | {:.2} | {:.2} |",
                ours.per_second(),
                base.per_second(),
                100.0 * ours.per_second() / base.per_second(),
                ours.percentile_ms(0.99),
                base.percentile_ms(0.99),
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    });
}
