//! The seed's agent routes (same paths, same JSON), thin over the same service.

use axum::extract::{Path, State};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::service::{self, NewAgent};
use super::settings::SettingsChange;
use super::store::Agent;
use crate::auth::Viewer;
use crate::error::AppResult;
use crate::rest::JsonBody;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/agents", post(create))
        .route("/api/agents/{id}/settings", put(update_settings))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    system_prompt: String,
    #[serde(default = "active")]
    is_active: bool,
    #[serde(default)]
    settings: Option<SettingsChange>,
}

fn active() -> bool {
    true
}

/// The seed's agent JSON; the key is never answered, only whether there is one.
fn seed_agent(agent: &Agent) -> AppResult<Value> {
    Ok(json!({
        "id": agent.id,
        "name": agent.name,
        "model": agent.model,
        "has_api_key": agent.api_key.is_some(),
        "base_url": agent.base_url,
        "system_prompt": agent.system_prompt,
        "is_active": agent.is_active,
        "settings": agent.settings()?,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }))
}

async fn create(
    State(s): State<Services>,
    viewer: Viewer,
    JsonBody(body): JsonBody<CreateBody>,
) -> AppResult<Json<Value>> {
    let input = NewAgent {
        name: body.name,
        model: body.model,
        api_key: body.api_key,
        base_url: body.base_url,
        system_prompt: body.system_prompt,
        is_active: body.is_active,
        settings: body.settings,
    };
    let agent = service::create(&s, &viewer, input).await?;
    Ok(Json(seed_agent(&agent)?))
}

async fn update_settings(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<SettingsChange>,
) -> AppResult<Json<Value>> {
    let agent = service::update_settings(&s, &viewer, &id, change).await?;
    Ok(Json(seed_agent(&agent)?))
}
