//! `/api/v1/webhook-endpoints`: the endpoints over REST, thin over the same service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::entity::EventType;
use super::service::{self, EndpointChange, NewEndpoint};
use super::store::{self, Endpoint};
use crate::auth::Viewer;
use crate::error::AppResult;
use crate::rest::JsonBody;
use crate::secrets::Secret;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/v1/webhook-endpoints", get(list).post(create))
        .route(
            "/api/v1/webhook-endpoints/{id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/v1/webhook-endpoints/{id}/rotate-secret", post(rotate))
}

fn endpoint_json(row: &Endpoint) -> Value {
    json!({
        "id": row.id,
        "url": row.url,
        "description": row.description,
        "event_types": store::event_types(row),
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "failing_since": row.failing_since,
        "previous_secret_expires_at": row.previous_secret_expires_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

fn with_secret((row, secret): (Endpoint, Secret)) -> Value {
    let mut body = endpoint_json(&row);
    body["secret"] = Value::String(secret.expose().to_string());
    body
}

#[derive(Deserialize)]
struct CreateBody {
    url: String,
    event_types: Vec<EventType>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct UpdateBody {
    url: Option<String>,
    event_types: Option<Vec<EventType>>,
    description: Option<String>,
    enabled: Option<bool>,
}

async fn list(State(s): State<Services>, viewer: Viewer) -> AppResult<Json<Value>> {
    let rows = service::endpoints(&s, &viewer).await?;
    Ok(Json(Value::Array(rows.iter().map(endpoint_json).collect())))
}

async fn create(
    State(s): State<Services>,
    viewer: Viewer,
    JsonBody(body): JsonBody<CreateBody>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let new = NewEndpoint {
        url: body.url,
        event_types: body.event_types,
        description: body.description,
    };
    let created = service::create(&s, &viewer, new).await?;
    Ok((StatusCode::CREATED, Json(with_secret(created))))
}

async fn show(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    Ok(Json(endpoint_json(
        &service::endpoint(&s, &viewer, &id).await?,
    )))
}

async fn update(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> AppResult<Json<Value>> {
    let change = EndpointChange {
        url: body.url,
        event_types: body.event_types,
        description: body.description,
        enabled: body.enabled,
    };
    Ok(Json(endpoint_json(
        &service::update(&s, &viewer, &id, change).await?,
    )))
}

async fn delete(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    Ok(Json(endpoint_json(
        &service::delete(&s, &viewer, &id).await?,
    )))
}

async fn rotate(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    Ok(Json(with_secret(service::rotate(&s, &viewer, &id).await?)))
}
