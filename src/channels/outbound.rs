//! Sending from an integration's account, for the conversations and broadcasts domains: a
//! slot of the integration's rate limit first, then the sealed credentials are opened for the
//! one send and dropped with it.

use super::credentials::Credentials;
use super::entity::IntegrationKind;
use super::limiter::{self, SendPermit};
use super::store::Integration;
use crate::error::AppError;
use crate::providers::messaging::{Messenger, SentMessage};
use crate::providers::ProviderError;
use crate::services::Services;

/// Sends `text` to `to` (a Telegram chat id, a WhatsApp number or chat id, an Instagram-scoped
/// user id)
/// from the integration's account, once its rate limit allows; a sandbox integration's go to
/// the sandbox messenger.
pub async fn send_text(
    s: &Services,
    integration: &Integration,
    to: &str,
    text: &str,
) -> Result<SentMessage, ProviderError> {
    let permit = limiter::permit(s, integration).await;
    send_permitted(s, permit, integration, to, text).await
}

/// [`send_text`] for a caller that waited for its [`SendPermit`] itself (a broadcast, which
/// may be cancelled while it waits).
pub async fn send_permitted(
    s: &Services,
    _permit: SendPermit,
    integration: &Integration,
    to: &str,
    text: &str,
) -> Result<SentMessage, ProviderError> {
    let account = Credentials::open(s, integration)
        .and_then(|credentials| credentials.account(&s.config.channels))
        .map_err(|err| {
            let why = match err {
                AppError::NotConfigured(why) => why,
                _ => "the integration's credentials could not be opened".into(),
            };
            ProviderError::refused(channel_name(integration.kind), why)
        })?;
    s.providers.messengers.send_text(&account, to, text).await
}

/// The channel's name as conversations and the seeds' APIs say it: "telegram",
/// "whatsapp", "instagram" or "sandbox".
pub fn channel_name(kind: IntegrationKind) -> &'static str {
    kind.channel()
}
