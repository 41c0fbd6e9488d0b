//! What operators look at: liveness, readiness, Prometheus metrics, logs with a request id.

pub mod accept;

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::LogFormat;
use crate::services::Services;

/// The process-wide Prometheus recorder (metrics are global; every app in a process shares it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ],
            )
            .expect("bucket list is not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// A label value kept for the life of the process. Only route templates, methods and status
/// codes come here, so the set stays small.
fn intern(value: &str) -> &'static str {
    static SEEN: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if let Some(found) = SEEN.read().unwrap_or_else(|e| e.into_inner()).get(value) {
        return found;
    }
    let mut seen = SEEN.write().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = seen.get(value) {
        return found;
    }
    let leaked: &'static str = Box::leak(value.to_string().into_boxed_str());
    seen.insert(leaked);
    leaked
}

type RequestKey = (&'static str, &'static str, u16);

/// The counter and histogram of one (route, method, status), looked up once: the hot path
/// then costs two atomic updates instead of building and hashing label sets.
fn request_handles(key: RequestKey) -> (metrics::Counter, metrics::Histogram) {
    type Handles = HashMap<RequestKey, (metrics::Counter, metrics::Histogram)>;
    static HANDLES: LazyLock<RwLock<Handles>> = LazyLock::new(Default::default);
    if let Some(handles) = HANDLES.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return handles.clone();
    }
    let (route, method, status) = key;
    let status_label = intern(&status.to_string());
    let handles = (
        metrics::counter!("switchboard_http_requests_total", "method" => method, "route" => route, "status" => status_label),
        metrics::histogram!("switchboard_http_request_duration_seconds", "route" => route),
    );
    HANDLES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, handles.clone());
    handles
}

/// Counts every request and its latency, labelled by route template (not raw path, which
/// would let clients mint label values).
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = intern(request.method().as_str());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| intern(p.as_str()))
        .unwrap_or("unmatched");
    let response = next.run(request).await;
    let (requests, latency) = request_handles((route, method, response.status().as_u16()));
    requests.increment(1);
    latency.record(started.elapsed().as_secs_f64());
    response
}

/// `/healthz` (alive), `/readyz` (the database answers) and `/metrics` (Prometheus).
pub fn routes() -> Router<Services> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(State(services): State<Services>) -> Response {
    match services.db.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready", "database": "up" })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "not ready", "database": "down" })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(services): State<Services>, headers: HeaderMap) -> Response {
    let token = services.config.metrics_token.as_deref();
    if token.is_some() {
        if let Err(refused) = crate::auth::verify_webhook(&headers, b"", token, "METRICS_TOKEN") {
            return refused.into_response();
        }
    }
    match services.jobs.counts_by_state().await {
        Ok(counts) => {
            for (state, n) in counts {
                metrics::gauge!("switchboard_jobs", "state" => state).set(n as f64);
            }
        }
        Err(err) => tracing::warn!(error = ?err, "metrics: could not count jobs"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}
