//! The channels' webhooks and the seed's `/api/health`, thin over `webhooks` and `health`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::entity::IntegrationKind;
use super::health;
use super::webhooks::{self, Received};
use crate::error::AppResult;
use crate::providers::messaging::meta::Handshake;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/webhooks/telegram/{integration_id}", post(telegram))
        .route("/webhooks/waha/{integration_id}", post(waha))
        .route("/webhooks/whatsapp", get(whatsapp_handshake).post(whatsapp))
        .route(
            "/webhooks/instagram",
            get(instagram_handshake).post(instagram),
        )
        .route("/api/health", get(seed_health))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn answer(received: Received) -> Json<Value> {
    Json(match received {
        Received::Stored(n) => json!({"ok": true, "received": n}),
        Received::Ignored(why) => json!({"ok": true, "ignored": why}),
    })
}

async fn telegram(
    State(s): State<Services>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let secret = header(&headers, "x-telegram-bot-api-secret-token");
    Ok(answer(
        webhooks::telegram_update(&s, &integration_id, secret, &body).await?,
    ))
}

async fn waha(
    State(s): State<Services>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let hmac = header(&headers, "x-webhook-hmac");
    let algorithm = header(&headers, "x-webhook-hmac-algorithm");
    Ok(answer(
        webhooks::waha_event(&s, &integration_id, hmac, algorithm, &body).await?,
    ))
}

async fn meta(
    s: &Services,
    kind: IntegrationKind,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<Json<Value>> {
    let signature = header(headers, "x-hub-signature-256");
    Ok(answer(
        webhooks::meta_webhook(s, kind, signature, body).await?,
    ))
}

async fn whatsapp(
    State(s): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    meta(&s, IntegrationKind::WhatsappCloud, &headers, &body).await
}

async fn instagram(
    State(s): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    meta(&s, IntegrationKind::Instagram, &headers, &body).await
}

/// Meta reads the challenge back as the body, as is.
async fn handshake(
    s: &Services,
    kind: IntegrationKind,
    query: &Handshake,
) -> AppResult<impl IntoResponse> {
    let challenge = webhooks::handshake(s, kind, query).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    ))
}

async fn whatsapp_handshake(
    State(s): State<Services>,
    Query(query): Query<Handshake>,
) -> AppResult<impl IntoResponse> {
    handshake(&s, IntegrationKind::WhatsappCloud, &query).await
}

async fn instagram_handshake(
    State(s): State<Services>,
    Query(query): Query<Handshake>,
) -> AppResult<impl IntoResponse> {
    handshake(&s, IntegrationKind::Instagram, &query).await
}

/// The seed's shape exactly; 503 (said in the body's `status` too) when UNHEALTHY, so a load
/// balancer takes the instance out.
async fn seed_health(State(s): State<Services>) -> impl IntoResponse {
    let report = health::report(&s).await;
    let status = match report.status {
        health::HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    // The seed's devices are WhatsApp numbers of either kind.
    let (cloud, cloud_up) = report.of(IntegrationKind::WhatsappCloud);
    let (paired, paired_up) = report.of(IntegrationKind::WhatsappDevice);
    let (devices, connected_devices) = (cloud + paired, cloud_up + paired_up);
    let (bots, running_bots) = report.of(IntegrationKind::Telegram);
    let body = json!({
        "status": status.as_u16(),
        "results": {
            "status": report.status.as_str(),
            "whatsapp": {"total_devices": devices, "connected_devices": connected_devices},
            "telegram": {"total_bots": bots, "running_bots": running_bots},
            "active_agents": report.active_agents,
            "total_agents": report.total_agents,
        },
    });
    (status, Json(body))
}
