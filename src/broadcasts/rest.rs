//! The seed's broadcast routes (same paths, the seed's JSON), thin over the same services.
//! The seed names the channel (`integration_type`); `integration_id` picks one integration
//! when the agent has several on it.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::lifecycle;
use super::service::{self, NewBroadcast, Via};
use super::store::{self, Broadcast};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::rest::JsonBody;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/agents/{id}/settings/broadcast", post(create))
        .route(
            "/api/agents/{id}/settings/broadcast/{broadcast_id}",
            get(status),
        )
}

#[derive(Deserialize)]
struct CreateBody {
    message: String,
    #[serde(default)]
    integration_type: Option<String>,
    #[serde(default)]
    integration_id: Option<String>,
    recipients: Vec<String>,
    #[serde(default)]
    scheduled_at: Option<DateTime<Utc>>,
}

/// The seed's broadcast, with its counts.
async fn seed_broadcast(s: &Services, broadcast: &Broadcast) -> AppResult<Value> {
    let progress = lifecycle::progress(s, broadcast).await?;
    let counts = progress.counts;
    Ok(json!({
        "id": broadcast.id,
        "agent_id": broadcast.agent_id,
        "integration_id": broadcast.integration_id,
        "integration_type": broadcast.channel,
        "message": broadcast.message,
        "status": broadcast.status.as_str(),
        "total_recipients": broadcast.total,
        "pending_count": counts.pending + counts.sending,
        "sent_count": counts.sent,
        "failed_count": counts.failed,
        "unknown_count": counts.unknown,
        "rate_per_second": progress.rate,
        "eta_seconds": progress.eta_seconds,
        "error": broadcast.failure,
        "scheduled_at": broadcast.scheduled_at,
        "started_at": broadcast.started_at,
        "completed_at": broadcast.finished_at,
        "created_at": broadcast.created_at,
    }))
}

async fn create(
    State(s): State<Services>,
    viewer: Viewer,
    Path(agent_id): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> AppResult<Json<Value>> {
    let via = match (body.integration_id, body.integration_type) {
        (Some(id), _) => Via::Integration(id),
        (None, Some(channel)) => Via::Channel(channel),
        (None, None) => {
            return Err(AppError::BadInput(
                "integration_type (or integration_id) is required".into(),
            ))
        }
    };
    let input = NewBroadcast {
        agent_id,
        via,
        message: body.message,
        recipients: body.recipients,
        scheduled_at: body.scheduled_at,
    };
    let broadcast = service::create(&s, &viewer, input).await?;
    Ok(Json(json!({
        "success": true,
        "broadcast": seed_broadcast(&s, &broadcast).await?,
    })))
}

async fn status(
    State(s): State<Services>,
    viewer: Viewer,
    Path((agent_id, broadcast_id)): Path<(String, String)>,
) -> AppResult<Json<Value>> {
    let broadcast = store::get(&s.db, &viewer, &broadcast_id).await?;
    if broadcast.agent_id != agent_id {
        return Err(AppError::not_found("broadcast"));
    }
    Ok(Json(seed_broadcast(&s, &broadcast).await?))
}
