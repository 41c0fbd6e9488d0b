//! Inbound traffic from the channels, authenticated before anything is stored: Telegram's
//! secret header per integration, WAHA's HMAC-SHA512 of the raw body with the key of the
//! device's session, Meta's signature of the raw body with the app secret of the integration
//! each batch is for. Each message goes to the integration that holds the
//! account it was sent to, and to nobody else's agent.

use serde_json::Value;

use super::credentials::Credentials;
use super::device;
use super::entity::{IntegrationKind, IntegrationState, SessionStatus};
use super::inbound::{self, Delivery, Inbound};
use super::store::{self, Integration};
use crate::error::{AppError, AppResult};
use crate::jobs::NewJob;
use crate::providers::messaging::meta::{self, Handshake};
use crate::providers::messaging::telegram;
use crate::providers::messaging::waha::{self, Event};
use crate::providers::messaging::{DeliveryUpdate, InboundMessage};
use crate::services::Services;

/// What a webhook call came to, for its answer and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Messages and statuses stored as jobs (a resend's count them again, but adds none).
    Stored(usize),
    /// Acknowledged, so the channel does not send it again, and dropped.
    Ignored(&'static str),
}

fn refused_telegram() -> AppError {
    AppError::Unauthenticated(
        "the X-Telegram-Bot-Api-Secret-Token header is missing or wrong".into(),
    )
}

/// The integration of `kind` a webhook's URL names, with its credentials; `refused` for
/// any other id, so a caller learns nothing of which ids exist.
async fn addressed(
    s: &Services,
    integration_id: &str,
    kind: IntegrationKind,
    refused: fn() -> AppError,
) -> AppResult<(Integration, Credentials)> {
    let id = crate::input::id(integration_id, "integration").map_err(|_| refused())?;
    let found = match store::load(&s.db, &id).await {
        Err(AppError::NotFound(_)) => return Err(refused()),
        found => found?,
    };
    if found.kind != kind {
        return Err(refused());
    }
    let credentials = Credentials::open(s, &found)?;
    Ok((found, credentials))
}

/// The Telegram integration `integration_id` names, if `header` is its secret.
async fn telegram_sender(
    s: &Services,
    integration_id: &str,
    header: Option<&str>,
) -> AppResult<Integration> {
    let kind = IntegrationKind::Telegram;
    let (found, credentials) = addressed(s, integration_id, kind, refused_telegram).await?;
    let Credentials::Telegram {
        secret_token: Some(expected),
        ..
    } = credentials
    else {
        return Err(refused_telegram());
    };
    if !telegram::secret_token_matches(&expected, header) {
        return Err(refused_telegram());
    }
    Ok(found)
}

/// One Telegram update, posted to the integration's own URL with its secret.
pub async fn telegram_update(
    s: &Services,
    integration_id: &str,
    header: Option<&str>,
    body: &[u8],
) -> AppResult<Received> {
    let found = telegram_sender(s, integration_id, header).await?;
    if found.state == IntegrationState::Disconnected {
        return Ok(Received::Ignored("the integration is disconnected"));
    }
    let update = crate::input::provider_json::<Value>(body)
        .ok()
        .and_then(|update| telegram::parse_update(&update));
    let Some(update) = update else {
        tracing::warn!(integration = %found.id, "a Telegram webhook that is no update: ignored");
        return Ok(Received::Ignored("not an update"));
    };
    let Ok(message) = update.message else {
        return Ok(Received::Ignored("no text message to answer"));
    };
    let jobs = vec![Inbound {
        integration_id: found.id,
        message,
    }
    .job(s)?];
    inbound::enqueue(s, jobs).await?;
    Ok(Received::Stored(1))
}

fn refused_waha() -> AppError {
    AppError::Unauthenticated(
        "X-Webhook-Hmac is missing or is not the HMAC-SHA512 of this body with the session's key"
            .into(),
    )
}

/// One WAHA event, posted to the device's own URL and signed with its session's key: a
/// status the integration follows, or a message for its agent. Events of another session
/// (one WAHA reused the URL for) and of a disconnected device are acknowledged and dropped.
pub async fn waha_event(
    s: &Services,
    integration_id: &str,
    hmac: Option<&str>,
    algorithm: Option<&str>,
    body: &[u8],
) -> AppResult<Received> {
    let kind = IntegrationKind::WhatsappDevice;
    let (found, credentials) = addressed(s, integration_id, kind, refused_waha).await?;
    let Credentials::WhatsappDevice {
        hmac_key, session, ..
    } = &credentials
    else {
        return Err(refused_waha());
    };
    let signed = hmac.is_some_and(|hmac| waha::verify_hmac(hmac_key, body, hmac, algorithm));
    if !signed {
        tracing::warn!(integration = %found.id, "a WAHA webhook not signed with its session's key: refused");
        return Err(refused_waha());
    }
    if found.state == IntegrationState::Disconnected {
        return Ok(Received::Ignored("the integration is disconnected"));
    }
    let Some(event) = waha::parse_event(body) else {
        tracing::warn!(integration = %found.id, "a WAHA webhook that is no event: ignored");
        return Ok(Received::Ignored("not a WAHA event"));
    };
    if event.session() != session {
        return Ok(Received::Ignored("an event of another session"));
    }
    match event {
        Event::Status { status, me, .. } => {
            let Some(status) = SessionStatus::parse(&status) else {
                return Ok(Received::Ignored("a session status we do not know"));
            };
            device::status_reported(s, &found, &credentials, status, me).await?;
            Ok(Received::Stored(1))
        }
        Event::Message {
            message: Err(skipped),
            ..
        } => Ok(Received::Ignored(skipped.reason())),
        Event::Message {
            message: Ok(message),
            ..
        } => {
            let integration_id = found.id;
            let jobs = vec![Inbound {
                integration_id,
                message,
            }
            .job(s)?];
            inbound::enqueue(s, jobs).await?;
            Ok(Received::Stored(1))
        }
        Event::Other { .. } => Ok(Received::Ignored("an event not asked for")),
    }
}

/// What one Meta webhook brought for one of our accounts.
struct Batch {
    identity: String,
    messages: Vec<InboundMessage>,
    statuses: Vec<DeliveryUpdate>,
}

fn batches(kind: IntegrationKind, body: &[u8]) -> AppResult<Vec<Batch>> {
    let unreadable = |_| AppError::BadInput("the body is not a webhook payload of Meta".into());
    Ok(match kind {
        IntegrationKind::WhatsappCloud => meta::parse_whatsapp_webhook(body)
            .map_err(unreadable)?
            .into_iter()
            .map(|(identity, inbox)| Batch {
                identity,
                messages: inbox.messages,
                statuses: inbox.statuses,
            })
            .collect(),
        _ => meta::parse_instagram_webhook(body)
            .map_err(unreadable)?
            .into_iter()
            .map(|(identity, messages)| Batch {
                identity,
                messages,
                statuses: Vec::new(),
            })
            .collect(),
    })
}

fn bad_signature() -> AppError {
    AppError::Unauthenticated("X-Hub-Signature-256 is missing or does not sign this body".into())
}

/// A WhatsApp or Instagram webhook (one callback URL per Meta app). Every batch for an
/// account we hold must be signed with that integration's app secret, or the whole call is
/// refused and nothing stored; a batch for an account nobody holds is acknowledged and
/// dropped, so Meta does not retry it forever.
pub async fn meta_webhook(
    s: &Services,
    kind: IntegrationKind,
    signature: Option<&str>,
    body: &[u8],
) -> AppResult<Received> {
    let signature = signature.ok_or_else(bad_signature)?;
    let fallback = match kind {
        IntegrationKind::Instagram => s.config.channels.instagram_app_secret(),
        _ => None,
    };
    let mut jobs: Vec<NewJob> = Vec::new();
    for batch in batches(kind, body)? {
        let Some(found) = store::holder(&s.db, kind, &batch.identity).await? else {
            tracing::info!(channel = kind.channel(), account = %batch.identity, "a webhook for an account no integration holds: acknowledged and ignored");
            continue;
        };
        let credentials = Credentials::open(s, &found)?;
        let signed = credentials
            .app_secret(fallback)
            .is_some_and(|secret| meta::verify_signature(secret, body, signature));
        if !signed {
            tracing::warn!(integration = %found.id, "a webhook whose signature is not its app secret's: refused");
            return Err(bad_signature());
        }
        for message in batch.messages {
            let integration_id = found.id.clone();
            jobs.push(
                Inbound {
                    integration_id,
                    message,
                }
                .job(s)?,
            );
        }
        for update in batch.statuses {
            let integration_id = found.id.clone();
            jobs.push(
                Delivery {
                    integration_id,
                    update,
                }
                .job()?,
            );
        }
    }
    if jobs.is_empty() {
        return Ok(Received::Ignored("nothing for an account we hold"));
    }
    let stored = jobs.len();
    inbound::enqueue(s, jobs).await?;
    Ok(Received::Stored(stored))
}

/// Meta's handshake: the challenge, when the verify token is one of an integration of
/// `kind` that holds its account (or, for Instagram, the server's INSTAGRAM_VERIFY_TOKEN).
pub async fn handshake(
    s: &Services,
    kind: IntegrationKind,
    query: &Handshake,
) -> AppResult<String> {
    let mut tokens: Vec<String> = match kind {
        IntegrationKind::Instagram => s.config.channels.instagram_verify_token(),
        _ => None,
    }
    .into_iter()
    .map(str::to_string)
    .collect();
    for found in store::holders(&s.db, kind).await? {
        let credentials = Credentials::open(s, &found)?;
        tokens.extend(credentials.verify_token(None).map(str::to_string));
    }
    tokens
        .iter()
        .find_map(|token| meta::verify_challenge(query, token))
        .map(str::to_string)
        .ok_or_else(|| AppError::Forbidden("the verify token is not one of ours".into()))
}
