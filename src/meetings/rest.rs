//! The seed's REST API (same paths, same JSON), thin over the same service, plus the webhook
//! bot services push status to.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::service::{self, Transition, TriggerInput};
use super::status::{BotStatus, ChangeSource};
use crate::auth::{webhook, Caller, Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::providers::bot_service::{RemoteBot, RemoteState, VexaMeeting};
use crate::rest::{self, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/meet/trigger", post(trigger))
        .route("/api/v1/meet/status/{bot_id}", get(status))
        .route("/api/v1/meet/callback/update-status", post(callback_done))
        .route(
            "/api/v1/create-tasks-from-audio",
            post(create_tasks_from_audio),
        )
        .route("/api/v1/meet/webhook", post(webhook_status))
}

#[derive(Deserialize)]
struct TriggerBody {
    meet_url: String,
    #[serde(default = "default_bot_name")]
    bot_name: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

fn default_bot_name() -> String {
    "Switchboard Bot".into()
}

async fn trigger(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TriggerBody>,
) -> AppResult<Json<Value>> {
    let header_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let input = TriggerInput {
        meet_url: body.meet_url,
        bot_name: body.bot_name,
        idempotency_key: body.idempotency_key.or(header_key),
    };
    let bot = service::trigger(&app.services, &viewer, input).await?;
    Ok(Json(json!({
        "bot_id": bot.id,
        "status": bot.status,
        "message": format!("Bot {} started successfully for meeting", bot.id),
    })))
}

/// The seed's status shape, for clients that still poll.
fn seed_status(bot: &service::MeetingBot) -> Value {
    json!({
        "bot_id": bot.id,
        "status": bot.status,
        "user_id": bot.user_id,
        "created_at": bot.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updated_at": bot.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "error_message": bot.error_message,
        "session_id": bot.session_id,
        "result_data": bot.result_data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
    })
}

async fn status(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(bot_id): Path<String>,
) -> AppResult<Json<Value>> {
    let bot = service::get(&app.services.db, &viewer, &bot_id).await?;
    Ok(Json(seed_status(&bot)))
}

fn bot_service_secret(app: &AppState) -> Option<&str> {
    app.services.config.providers.bot_service_secret.as_deref()
}

/// A callback body, once the bot service's secret or signature is checked.
fn from_bot_service<T: serde::de::DeserializeOwned>(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<T> {
    webhook::verify(headers, body, bot_service_secret(app), "BOT_SERVICE_SECRET")?;
    rest::parse(body)
}

#[derive(Deserialize)]
struct DoneBody {
    bot_id: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    result_data: Option<Value>,
}

async fn callback_done(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let done: DoneBody = from_bot_service(&app, &headers, &body)?;
    let mut bot = service::find_for_callback(&app.services.db, &done.bot_id).await?;
    // Decided on each fresh read: a recording handed over a moment ago wins.
    for _ in 0..8 {
        let status = BotStatus::parse(&bot.status)?;
        if status >= BotStatus::Transcribing && !status.is_final() {
            // The recording is being processed here, which ends the bot with its own issues.
            tracing::info!(bot = %bot.id, status = status.as_str(), "done callback while the pipeline runs: left to the pipeline");
            return Ok(Json(json!({
                "success": true,
                "status": status.as_str(),
                "message": "The recording is being processed; the bot becomes done with its Jira issues",
            })));
        }
        let transition = Transition {
            session_id: done.session_id.clone().filter(|_| bot.session_id.is_none()),
            result_data: done.result_data.clone(),
            ..Transition::because("the bot service reported the meeting processed")
        };
        let applied = service::change_status_from(
            &app.services,
            &bot,
            BotStatus::Done,
            ChangeSource::Webhook,
            &transition,
        )
        .await?;
        if applied.is_some() {
            return Ok(Json(
                json!({"success": true, "message": "Status updated successfully"}),
            ));
        }
        bot = service::load(&app.services.db, &bot.id).await?;
    }
    Err(AppError::internal(format!(
        "bot {}: too many concurrent status changes",
        bot.id
    )))
}

#[derive(Deserialize)]
struct AudioBody {
    bot_id: String,
    audio_url: String,
}

/// Called by the bot service (with its secret) or by a person of the bot's organisation.
async fn create_tasks_from_audio(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let by_service = webhook::verify(
        &headers,
        &body,
        bot_service_secret(&app),
        "BOT_SERVICE_SECRET",
    );
    let db = &app.services.db;
    let (audio, bot, source) = match (&by_service, app.services.auth.from_headers(&headers).await) {
        (Ok(()), _) => {
            let audio: AudioBody = rest::parse(&body)?;
            let bot = service::find_for_callback(db, &audio.bot_id).await?;
            (audio, bot, ChangeSource::Webhook)
        }
        (Err(_), Caller::Known(viewer)) => {
            viewer.require(Role::Manager)?;
            let audio: AudioBody = rest::parse(&body)?;
            let bot = service::get(db, &viewer, &audio.bot_id).await?;
            (audio, bot, ChangeSource::User)
        }
        (Err(err), _) => return Err(AppError::Unauthenticated(err.message().to_string())),
    };
    let bot = super::pipeline::start(&app.services, &bot, &audio.audio_url, source).await?;
    Ok(Json(json!({
        "success": true,
        "bot_id": bot.id,
        "status": bot.status,
        "message": "Processing started: transcription, analysis, then Jira tasks",
    })))
}

#[derive(Deserialize)]
struct StatusPush {
    bot_id: String,
    status: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default, alias = "error_message")]
    error: Option<String>,
    #[serde(default, alias = "audio_url")]
    recording_url: Option<String>,
}

/// Vexa's webhook: `{event_type, meeting: {id, platform, native_meeting_id, status, data}}`
/// (the meeting under `data` for some events).
#[derive(Deserialize)]
struct VexaEvent {
    event_type: String,
    #[serde(default)]
    meeting: Option<VexaMeeting>,
    #[serde(default)]
    data: Option<VexaEventData>,
}

#[derive(Deserialize)]
struct VexaEventData {
    #[serde(default)]
    meeting: Option<VexaMeeting>,
}

/// The bot service's push: the seed's `{bot_id, status, …}` or a Vexa event. Events that
/// carry no meeting are acknowledged and ignored, so the service does not send them again.
async fn webhook_status(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let push: Value = from_bot_service(&app, &headers, &body)?;
    let (remote, bot) = if push.get("event_type").is_some() {
        let event: VexaEvent = rest::parse(&body)?;
        let Some(meeting) = event.meeting.or(event.data.and_then(|d| d.meeting)) else {
            return Ok(Json(json!({"success": true, "ignored": event.event_type})));
        };
        let remote = meeting.into_remote();
        let bot = service::find_pushed(
            &app.services.db,
            &remote.external_id,
            remote.session_id.as_deref(),
        )
        .await?;
        (remote, bot)
    } else {
        let push: StatusPush = rest::parse(&body)?;
        let bot = service::find_for_callback(&app.services.db, &push.bot_id).await?;
        let remote = RemoteBot {
            external_id: push.bot_id,
            state: RemoteState::parse(&push.status),
            session_id: push.session_id,
            reason: push.error,
            recording_url: push.recording_url,
        };
        (remote, bot)
    };
    service::apply_remote(&app.services, &bot, &remote, ChangeSource::Webhook).await;
    let bot = service::find_for_callback(&app.services.db, &bot.id).await?;
    Ok(Json(json!({"success": true, "status": bot.status})))
}
