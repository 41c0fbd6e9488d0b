//! The seed's media routes (same paths, same JSON), the providers' callbacks, and the
//! signed media links; thin over the same services.

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::animation::{self, Order};
use super::{serve, service, store};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::providers::animator::AnimatorKind;
use crate::rest::JsonBody;
use crate::services::Services;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/v1/ai/photo/animate", post(animate))
        .route("/api/v1/ai/animation/status", post(status))
        .route("/webhooks/animations/{id}", post(callback))
        .route("/media/{id}", get(serve::original))
        .route("/media/{id}/thumbnail", get(serve::thumbnail))
}

/// The routes that take large bodies (their limit is MEDIA_MAX_BYTES, not the API's).
pub fn upload_routes() -> Router<Services> {
    Router::new()
        .route("/api/v1/memorials/{id}/media/upload", post(upload))
        // axum's multipart reader would stop at its own 2 MB default; the upload limit and
        // the streaming check in `ingest` hold these routes.
        .layer(DefaultBodyLimit::disable())
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> AppError {
    AppError::bad_request(err.status(), err.body_text())
}

async fn upload(
    State(s): State<Services>,
    viewer: Viewer,
    Path(memorial_id): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Json<Value>> {
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map(str::to_string);
        let chunks = field.map_err(multipart_error);
        let media = service::upload(&s, &viewer, &memorial_id, name.as_deref(), chunks).await?;
        return Ok(Json(json!({
            "id": media.id,
            "memorial_id": media.memorial_id,
            "media_type": match media.kind {
                super::format::MediaKind::Photo => "photo",
                super::format::MediaKind::Video => "video",
            },
            "content_type": media.content_type,
            "file_name": media.file_name,
            "file_size": media.size_bytes,
            "width": media.width,
            "height": media.height,
            "duration": media.duration_secs,
            "codec": media.codec,
            "url": super::links::signed(&s, &media.id, super::links::Variant::Original),
            "thumbnail_url": media.thumbnail_key.is_some()
                .then(|| super::links::signed(&s, &media.id, super::links::Variant::Thumbnail)),
        })));
    }
    Err(AppError::BadInput(
        "send the file as the multipart field \"file\"".into(),
    ))
}

#[derive(Deserialize)]
struct AnimateBody {
    media_id: Value,
    prompt: String,
    voice_id: Option<String>,
    provider: Option<String>,
}

/// A media id as the seed's clients send it: a string, or a number (which names nothing
/// here, but is answered as not found rather than as bad JSON).
fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn provider(name: Option<&str>) -> AppResult<Option<AnimatorKind>> {
    name.filter(|n| !n.trim().is_empty())
        .map(|n| {
            AnimatorKind::parse(n).ok_or_else(|| {
                AppError::BadInput(format!("provider must be d-id or heygen, not {n}"))
            })
        })
        .transpose()
}

async fn animate(
    State(s): State<Services>,
    viewer: Viewer,
    JsonBody(body): JsonBody<AnimateBody>,
) -> AppResult<Json<Value>> {
    let order = Order {
        media_id: id_text(&body.media_id),
        script: body.prompt,
        voice_id: body.voice_id,
        provider: provider(body.provider.as_deref())?,
    };
    let row = animation::animate(&s, &viewer, order).await?;
    let kind = AnimatorKind::from(row.provider);
    Ok(Json(json!({
        "task_id": row.id,
        "status": row.status.seed_name(),
        "message": format!("Animation task started with {}. Check status later.", kind.as_str()),
        "provider": kind.as_str(),
    })))
}

#[derive(Deserialize)]
struct StatusBody {
    task_id: String,
    /// Ignored: the animation knows its provider.
    #[serde(rename = "provider")]
    _provider: Option<String>,
}

async fn status(
    State(s): State<Services>,
    viewer: Viewer,
    JsonBody(body): JsonBody<StatusBody>,
) -> AppResult<Json<Value>> {
    let row = store::animation(&s.db, &viewer, &body.task_id).await?;
    Ok(Json(json!({
        "task_id": row.id,
        "status": row.status.seed_name(),
        "video_url": animation::video_url(&s, &row),
        "provider": AnimatorKind::from(row.provider).as_str(),
        "error": row.error,
    })))
}

#[derive(Deserialize)]
struct Token {
    token: Option<String>,
}

async fn callback(
    State(s): State<Services>,
    Path(id): Path<String>,
    Query(token): Query<Token>,
    body: axum::body::Bytes,
) -> AppResult<Json<Value>> {
    let token = token
        .token
        .ok_or_else(|| AppError::Unauthenticated("the callback carries no token".into()))?;
    let body: Value = crate::rest::parse(&body)?;
    animation::callback(&s, &id, &token, &body).await?;
    Ok(Json(json!({"received": true})))
}
