//! The channels domain's settings: Telegram long polling, and the Instagram app's webhook
//! secrets under seed 002's names (an integration's own values override them).

use std::time::Duration;

use anyhow::bail;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct ChannelsConfig {
    /// Seconds one `getUpdates` long poll waits for a message (Telegram allows up to 50).
    #[arg(
        long = "telegram-poll-timeout-secs",
        env = "TELEGRAM_POLL_TIMEOUT_SECS",
        default_value_t = 25
    )]
    pub telegram_poll_timeout_secs: u32,
    /// Milliseconds between looks for bots to start or stop polling, and the wait after a
    /// failed poll (or an empty one Telegram answered at once).
    #[arg(
        long = "telegram-poll-pause-ms",
        env = "TELEGRAM_POLL_PAUSE_MS",
        default_value_t = 5000
    )]
    pub telegram_poll_pause_ms: u64,
    /// The verify token Meta's Instagram webhook handshake sends, for integrations without
    /// one of their own.
    #[arg(
        long = "instagram-verify-token",
        env = "INSTAGRAM_VERIFY_TOKEN",
        hide_env_values = true
    )]
    pub instagram_verify_token: Option<String>,
    /// The Instagram app's secret that signs its webhooks, for integrations without one of
    /// their own.
    #[arg(
        long = "instagram-app-secret",
        env = "INSTAGRAM_APP_SECRET",
        hide_env_values = true
    )]
    pub instagram_app_secret: Option<String>,
}

impl ChannelsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.telegram_poll_timeout_secs > 50 {
            bail!("TELEGRAM_POLL_TIMEOUT_SECS must be at most 50");
        }
        if self.telegram_poll_pause_ms == 0 {
            bail!("TELEGRAM_POLL_PAUSE_MS must be at least 1");
        }
        Ok(())
    }

    pub fn poll_pause(&self) -> Duration {
        Duration::from_millis(self.telegram_poll_pause_ms)
    }

    /// A setting left empty is no setting: an empty secret would match nothing anyway.
    pub fn instagram_app_secret(&self) -> Option<&str> {
        self.instagram_app_secret
            .as_deref()
            .filter(|s| !s.is_empty())
    }

    pub fn instagram_verify_token(&self) -> Option<&str> {
        self.instagram_verify_token
            .as_deref()
            .filter(|s| !s.is_empty())
    }
}
