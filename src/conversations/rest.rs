//! The seed's live-chat routes (same paths, same JSON), thin over the same services.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{export, livechat};
use crate::auth::Viewer;
use crate::error::AppResult;
use crate::rest::JsonBody;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/conversations/{id}/takeover", post(take_over))
        .route("/api/conversations/{id}/notes", post(add_note))
        .route("/api/conversations/{id}/messages", post(send_message))
        .route("/api/conversations/{id}/export", get(export_csv))
}

async fn take_over(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let conversation = livechat::set_manual(&s, &viewer, &id, true).await?;
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "manual_mode": conversation.manual_mode,
        "message": format!("Conversation {} taken over by manager", conversation.id),
    })))
}

#[derive(Deserialize)]
struct NoteBody {
    notes: String,
}

async fn add_note(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NoteBody>,
) -> AppResult<Json<Value>> {
    let note = livechat::add_note(&s, &viewer, &id, &body.notes).await?;
    Ok(Json(json!({
        "success": true,
        "note": {"id": note.id, "author": note.author, "notes": note.text, "created_at": note.created_at},
    })))
}

#[derive(Deserialize)]
struct MessageBody {
    message: String,
}

async fn send_message(
    State(s): State<Services>,
    viewer: Viewer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> AppResult<Json<Value>> {
    let message = livechat::send_manager_message(&s, &viewer, &id, &body.message).await?;
    Ok(Json(json!({
        "success": true,
        "message": {"id": message.id, "role": "manager", "author": message.author,
                    "text": message.text, "delivery_status": format!("{:?}", message.delivery).to_lowercase(),
                    "delivery_error": message.delivery_error},
    })))
}

#[derive(Deserialize)]
struct Link {
    exp: Option<i64>,
    sig: Option<String>,
}

/// With a signed link's `exp` and `sig`, or the caller's own credential.
async fn export_csv(
    State(s): State<Services>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(link): Query<Link>,
) -> AppResult<Response> {
    let conversation = match (link.exp, link.sig.as_deref()) {
        (Some(expires), Some(signature)) => export::by_link(&s, &id, expires, signature).await?,
        _ => {
            let caller = s.auth.from_headers(&headers).await;
            export::for_viewer(&s, caller.viewer()?, &id).await?
        }
    };
    Ok(export::download(s, conversation))
}
