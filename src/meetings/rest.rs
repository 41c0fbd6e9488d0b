//! The seed's REST API (same paths, same JSON), thin over the same service, plus the webhook
//! bot services push status to.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::service::{self, ProcessedOutcome, ProcessedReport, PushedBy, TriggerInput};
use super::store::{self, MeetingBot};
use crate::auth::{verify_webhook, Caller, Viewer};
use crate::error::{AppError, AppResult};
use crate::providers::bot_service::{RemoteBot, RemoteState, VexaMeeting};
use crate::rest::{self, JsonBody};
use crate::services::Services;

pub fn routes() -> Router<Services> {
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
    State(s): State<Services>,
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
    let bot = service::trigger(&s, &viewer, input).await?;
    Ok(Json(json!({
        "bot_id": bot.id,
        "status": bot.status.as_str(),
        "message": format!("Bot {} started successfully for meeting", bot.id),
    })))
}

/// The seed's status shape, for clients that still poll.
fn seed_status(bot: &MeetingBot) -> Value {
    json!({
        "bot_id": bot.id,
        "status": bot.status.as_str(),
        "user_id": bot.user_id,
        "created_at": bot.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updated_at": bot.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "error_message": bot.error_message,
        "session_id": bot.session_id,
        "result_data": bot.result_data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
    })
}

async fn status(
    State(s): State<Services>,
    viewer: Viewer,
    Path(bot_id): Path<String>,
) -> AppResult<Json<Value>> {
    let bot = store::get(&s.db, &viewer, &bot_id).await?;
    Ok(Json(seed_status(&bot)))
}

/// Whether a callback carries the bot service's secret or signature.
fn verify_bot_service(s: &Services, headers: &HeaderMap, body: &[u8]) -> AppResult<()> {
    let secret = s.config.providers.bot_service_secret.as_deref();
    verify_webhook(headers, body, secret, "BOT_SERVICE_SECRET")
}

/// A callback body, once the bot service's secret or signature is checked.
fn from_bot_service<T: serde::de::DeserializeOwned>(
    s: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<T> {
    verify_bot_service(s, headers, body)?;
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
    State(s): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let done: DoneBody = from_bot_service(&s, &headers, &body)?;
    let report = ProcessedReport {
        bot_id: done.bot_id,
        session_id: done.session_id,
        result_data: done.result_data,
    };
    Ok(Json(match service::meeting_processed(&s, report).await? {
        ProcessedOutcome::Done => {
            json!({"success": true, "message": "Status updated successfully"})
        }
        ProcessedOutcome::LeftToPipeline(status) => json!({
            "success": true,
            "status": status.as_str(),
            "message": "The recording is being processed; the bot becomes done with its Jira issues",
        }),
    }))
}

#[derive(Deserialize)]
struct AudioBody {
    bot_id: String,
    audio_url: String,
}

/// Called by the bot service (with its secret) or by a person of the bot's organisation.
async fn create_tasks_from_audio(
    State(s): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let bot = match verify_bot_service(&s, &headers, &body) {
        Ok(()) => {
            let audio: AudioBody = rest::parse(&body)?;
            service::recording_handed_over(&s, &audio.bot_id, &audio.audio_url).await?
        }
        Err(refused) => match s.auth.from_headers(&headers).await {
            Caller::Known(viewer) => {
                let audio: AudioBody = rest::parse(&body)?;
                service::process_audio(&s, &viewer, &audio.bot_id, &audio.audio_url).await?
            }
            _ => return Err(AppError::Unauthenticated(refused.message().to_string())),
        },
    };
    Ok(Json(json!({
        "success": true,
        "bot_id": bot.id,
        "status": bot.status.as_str(),
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
    State(s): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    let push: Value = from_bot_service(&s, &headers, &body)?;
    let bot = if push.get("event_type").is_some() {
        let event: VexaEvent = rest::parse(&body)?;
        let Some(meeting) = event.meeting.or(event.data.and_then(|d| d.meeting)) else {
            return Ok(Json(json!({"success": true, "ignored": event.event_type})));
        };
        service::report_pushed(&s, meeting.into_remote(), PushedBy::ServiceRun).await?
    } else {
        let push: StatusPush = rest::parse(&body)?;
        let remote = RemoteBot {
            external_id: push.bot_id,
            state: RemoteState::parse(&push.status),
            session_id: push.session_id,
            reason: push.error,
            recording_url: push.recording_url,
        };
        service::report_pushed(&s, remote, PushedBy::EitherId).await?
    };
    Ok(Json(
        json!({"success": true, "status": bot.status.as_str()}),
    ))
}
