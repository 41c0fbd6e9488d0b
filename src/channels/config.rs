//! The channels domain's settings: Telegram long polling, the Instagram app's webhook secrets
//! under seed 002's names and the WAHA server WhatsApp devices pair through (an integration's
//! own values override them), and each kind's rate limit.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use url::Url;

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
    /// Messages per second one Telegram bot sends (replies and broadcasts together, across
    /// instances); Telegram allows about 30 in bulk.
    #[arg(
        long = "telegram-send-rate",
        env = "TELEGRAM_SEND_RATE",
        default_value_t = 30
    )]
    pub telegram_send_rate: u32,
    /// Messages per second one WhatsApp Cloud number sends (Meta allows 80).
    #[arg(
        long = "whatsapp-send-rate",
        env = "WHATSAPP_SEND_RATE",
        default_value_t = 80
    )]
    pub whatsapp_send_rate: u32,
    /// Messages per second one Instagram account sends.
    #[arg(
        long = "instagram-send-rate",
        env = "INSTAGRAM_SEND_RATE",
        default_value_t = 50
    )]
    pub instagram_send_rate: u32,
    /// The WAHA server (WhatsApp HTTP API) WhatsApp devices pair through, for integrations
    /// without one of their own.
    #[arg(long = "waha-base-url", env = "WAHA_BASE_URL")]
    pub waha_base_url: Option<Url>,
    /// The WAHA server's API key (its WAHA_API_KEY), sent as X-Api-Key, for integrations
    /// without one of their own.
    #[arg(long = "waha-api-key", env = "WAHA_API_KEY", hide_env_values = true)]
    pub waha_api_key: Option<String>,
    /// Messages per second one paired WhatsApp device sends; a phone that sends much faster
    /// than a person risks being banned by WhatsApp.
    #[arg(
        long = "whatsapp-device-send-rate",
        env = "WHATSAPP_DEVICE_SEND_RATE",
        default_value_t = 20
    )]
    pub whatsapp_device_send_rate: u32,
    /// Messages per second one sandbox integration "sends".
    #[arg(
        long = "sandbox-send-rate",
        env = "SANDBOX_SEND_RATE",
        default_value_t = 1000
    )]
    pub sandbox_send_rate: u32,
}

impl ChannelsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.telegram_poll_timeout_secs > 50 {
            bail!("TELEGRAM_POLL_TIMEOUT_SECS must be at most 50");
        }
        if self.telegram_poll_pause_ms == 0 {
            bail!("TELEGRAM_POLL_PAUSE_MS must be at least 1");
        }
        for (name, rate) in [
            ("TELEGRAM_SEND_RATE", self.telegram_send_rate),
            ("WHATSAPP_SEND_RATE", self.whatsapp_send_rate),
            ("INSTAGRAM_SEND_RATE", self.instagram_send_rate),
            ("SANDBOX_SEND_RATE", self.sandbox_send_rate),
            ("WHATSAPP_DEVICE_SEND_RATE", self.whatsapp_device_send_rate),
        ] {
            if !(1..=100_000).contains(&rate) {
                bail!("{name} must be between 1 and 100000 messages per second");
            }
        }
        if let Some(url) = self
            .waha_base_url
            .as_ref()
            .filter(|u| !matches!(u.scheme(), "http" | "https") || u.host().is_none())
        {
            bail!("WAHA_BASE_URL must be an http(s) URL with a host, not {url}");
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

    pub fn waha_api_key(&self) -> Option<&str> {
        self.waha_api_key.as_deref().filter(|s| !s.is_empty())
    }
}
