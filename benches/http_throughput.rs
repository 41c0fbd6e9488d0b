//! Issue "Foundation" benchmark: GraphQL `{ health { status } }` and a one-row database read
//! over HTTP, against plain axum handlers doing the same work, in one run on one machine.
//! The plain handlers are measured twice: behind the same middleware every route of the
//! server has (request id, tracing span, metrics, body limit), which isolates what GraphQL
//! costs, and bare, which shows what the whole server stack costs.
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
    let keys = switchboard::auth::entity::api_key::Entity::find()
        .filter(switchboard::auth::entity::api_key::Column::OrgId.eq(&viewer.org_id))
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

/// Measurement rounds per server and case.
const ROUNDS: usize = 3;

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
        let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", uuid::Uuid::new_v4().simple()));
        let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
        let mut config = Config::for_tests(&url, &dir);
        config.jobs.disabled = true;
        let body_limit = config.graphql.body_limit;
        let app = switchboard::build(config).await.unwrap();
        let services = app.services().clone();
        let token = services.jwt.issue("bench", Some("bench-org"), Role::Admin, 3600).unwrap();
        let Caller::Known(viewer) = services.auth.from_credential(&token).await else {
            unreachable!("a fresh token is valid")
        };
        api_keys::create(&services.db, &viewer, "the one row", Role::Viewer).await.unwrap();

        let plain_routes = || {
            Router::new()
                .route("/health", get(plain_health))
                .route("/read", get(plain_read))
                .with_state(services.clone())
        };
        let graphql = serve(app.router()).await;
        let plain_layered = serve(switchboard::server_layers(
            plain_routes().layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit)),
        ))
        .await;
        let plain_bare = serve(plain_routes()).await;

        let auth = [("Authorization", format!("Bearer {token}"))];
        let duration = Duration::from_secs(seconds);
        let cases = [
            ("health", r#"{"query":"{ health { status } }"}"#, "/health", &[][..], "\"ok\""),
            ("one-row read", r#"{"query":"{ apiKeys { id name } }"}"#, "/read", &auth[..], "the one row"),
        ];
        println!(
            "{connections} connections, median of {ROUNDS} rounds of {seconds} s, database {}",
            if url.starts_with("postgres") { "Postgres" } else { "SQLite" }
        );
        println!("| case | GraphQL req/s | plain, same middleware req/s | ratio | plain, bare req/s | ratio | GraphQL p99 ms | plain p99 ms |");
        println!("|---|---|---|---|---|---|---|---|");
        for (name, query, path, headers, expect) in cases {
            let graphql_request = support::request(graphql, "POST", "/graphql", headers, query);
            let layered_request = support::request(plain_layered, "GET", path, headers, "");
            let bare_request = support::request(plain_bare, "GET", path, headers, "");
            // Warm each up, then measure each.
            for (addr, request) in [(graphql, &graphql_request), (plain_layered, &layered_request), (plain_bare, &bare_request)] {
                support::run(addr, request.clone(), expect, connections, Duration::from_millis(500)).await;
            }
            // Rounds alternate between the three so that drift on a shared machine hits all
            // alike; each figure is the median round.
            let (mut ours, mut layered, mut bare) = (vec![], vec![], vec![]);
            for _ in 0..ROUNDS {
                ours.push(support::run(graphql, graphql_request.clone(), expect, connections, duration).await);
                layered.push(support::run(plain_layered, layered_request.clone(), expect, connections, duration).await);
                bare.push(support::run(plain_bare, bare_request.clone(), expect, connections, duration).await);
            }
            let errors: u64 = ours.iter().chain(&layered).chain(&bare).map(|l| l.errors).sum();
            assert_eq!(errors, 0, "every answer must be a correct 200");
            let (mut ours, mut layered, bare) = (support::median(ours), support::median(layered), support::median(bare));
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} % | {:.0} | {:.0} % | {:.2} | {:.2} |",
                ours.per_second(),
                layered.per_second(),
                100.0 * ours.per_second() / layered.per_second(),
                bare.per_second(),
                100.0 * ours.per_second() / bare.per_second(),
                ours.percentile_ms(0.99),
                layered.percentile_ms(0.99),
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    });
}
