//! What connecting asks of the channel. Telegram checks the bot token (getMe) and starts or
//! stops the bot's webhook; a WhatsApp device's WAHA session is started or removed (see
//! `device`); Meta's channels are asked nothing (their webhook is the app's, set once in
//! Meta's console). Under `--sandbox` no Telegram API is asked either.

use super::credentials::{bot_id, Credentials};
use super::device;
use super::entity::ReceiveMode;
use super::store::Integration;
use crate::error::{AppError, AppResult};
use crate::providers::messaging::telegram::TelegramApi;
use crate::providers::messaging::Secret;
use crate::providers::ProviderError;
use crate::services::Services;

fn telegram(s: &Services) -> Option<&TelegramApi> {
    s.providers.messengers.telegram()
}

/// Whether Telegram said the token is no bot's (revoked, or never one).
pub fn token_refused(err: &ProviderError) -> bool {
    err.status == Some(401)
}

/// A refused token is the caller's to fix; the token itself is never said.
fn token_error(err: ProviderError) -> AppError {
    if token_refused(&err) {
        AppError::BadInput(
            "Telegram refused the bot token: check it with @BotFather (it may have been revoked)"
                .into(),
        )
    } else {
        err.into()
    }
}

/// The id of the bot `token` belongs to, as Telegram says (getMe); under `--sandbox` the
/// token's own prefix.
pub async fn bot_identity(s: &Services, token: &str) -> AppResult<String> {
    let Some(api) = telegram(s) else {
        return bot_id(token)
            .map(str::to_string)
            .ok_or_else(|| AppError::BadInput("telegram.botToken is not a bot token".into()));
    };
    let me = api.get_me(&Secret::new(token)).await.map_err(token_error)?;
    Ok(me.id.to_string())
}

/// How a new Telegram bot receives: as asked, or by webhook when our public URL is https
/// (Telegram posts only to https), else by polling; nothing under `--sandbox`.
pub fn telegram_mode(s: &Services, asked: Option<ReceiveMode>) -> AppResult<ReceiveMode> {
    if telegram(s).is_none() {
        return Ok(ReceiveMode::Sandbox);
    }
    let https = s.config.public_base_url.scheme() == "https";
    match asked {
        Some(ReceiveMode::Webhook) if !https => Err(AppError::BadInput(
            "Telegram posts webhooks only to https: set PUBLIC_BASE_URL to an https URL, or use POLLING".into(),
        )),
        Some(mode) => Ok(mode),
        None if https => Ok(ReceiveMode::Webhook),
        None => Ok(ReceiveMode::Polling),
    }
}

/// Where Telegram posts the integration's updates.
pub fn webhook_url(s: &Services, integration_id: &str) -> String {
    format!(
        "{}/webhooks/telegram/{integration_id}",
        s.config.public_base_url.as_str().trim_end_matches('/')
    )
}

/// Has the channel start delivering to us: Telegram's webhook with its secret, or no webhook
/// so that the poller's getUpdates is allowed; a WhatsApp device's session.
pub async fn start_receiving(
    s: &Services,
    integration: &Integration,
    credentials: &Credentials,
) -> AppResult<()> {
    if let Credentials::WhatsappDevice { .. } = credentials {
        return device::start_session(s, integration, credentials).await;
    }
    let (Some(api), Some(token)) = (telegram(s), credentials.bot_token()) else {
        return Ok(());
    };
    let started = match (integration.mode, credentials) {
        (
            ReceiveMode::Webhook,
            Credentials::Telegram {
                secret_token: Some(secret),
                ..
            },
        ) => {
            let url = webhook_url(s, &integration.id);
            api.set_webhook(&token, &url, secret).await
        }
        (ReceiveMode::Polling, _) => api.delete_webhook(&token).await,
        _ => return Err(AppError::internal("a Telegram webhook without its secret")),
    };
    started.map_err(token_error)
}

/// Best effort: Telegram (or WAHA) stops posting to us. A failure is logged; a disconnected
/// integration's webhooks are acknowledged and dropped anyway.
pub async fn stop_receiving(s: &Services, integration: &Integration, credentials: &Credentials) {
    if let Credentials::WhatsappDevice { .. } = credentials {
        return device::stop_session(s, integration, credentials).await;
    }
    let (Some(api), Some(token)) = (telegram(s), credentials.bot_token()) else {
        return;
    };
    if let Err(err) = api.delete_webhook(&token).await {
        tracing::warn!(integration = %integration.id, error = %err.describe(), "could not remove the Telegram webhook");
    }
}
