//! Sending from an integration's account, for the conversations and broadcasts domains: the
//! sealed credentials are opened for the one send and dropped with it.

use super::credentials::Credentials;
use super::entity::IntegrationKind;
use super::store::Integration;
use crate::providers::messaging::{Messenger, SentMessage};
use crate::providers::ProviderError;
use crate::services::Services;

/// Sends `text` to `to` (a Telegram chat id, a WhatsApp number, an Instagram-scoped user id)
/// from the integration's account; a sandbox integration's go to the sandbox messenger.
pub async fn send_text(
    s: &Services,
    integration: &Integration,
    to: &str,
    text: &str,
) -> Result<SentMessage, ProviderError> {
    let credentials = Credentials::open(s, integration).map_err(|_| {
        ProviderError::refused(
            channel_name(integration.kind),
            "the integration's credentials could not be opened",
        )
    })?;
    s.providers
        .messengers
        .send_text(&credentials.account(), to, text)
        .await
}

/// The channel's name as conversations and the seeds' APIs say it: "telegram",
/// "whatsapp", "instagram" or "sandbox".
pub fn channel_name(kind: IntegrationKind) -> &'static str {
    kind.channel()
}
