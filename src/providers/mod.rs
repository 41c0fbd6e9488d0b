//! Clients of outside services. Each service is a trait with a real HTTP implementation;
//! `--sandbox` swaps in the simulated ones from `crate::sandbox`. `health` reports, for each,
//! whether it is configured, sandboxed or missing.

use async_graphql::{Enum, SimpleObject};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProviderStatus {
    /// Talks to the real service with configured credentials.
    Configured,
    /// Simulated (`--sandbox`): nothing leaves this machine.
    Sandbox,
    /// Not configured: operations that need it fail with NOT_CONFIGURED.
    NotConfigured,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderHealth {
    pub name: String,
    pub status: ProviderStatus,
}

/// What each provider is, decided once at start-up from the configuration.
pub fn health(config: &Config) -> Vec<ProviderHealth> {
    let p = &config.providers;
    let entries = [
        ("botService", p.bot_service_url.is_some()),
        (
            "llm",
            p.openai_api_key.is_some() || p.openai_base_url.host_str() != Some("api.openai.com"),
        ),
        (
            "transcription",
            p.openai_api_key.is_some() || p.transcription_base_url.is_some(),
        ),
        ("jira", p.jira_complete().unwrap_or(false)),
    ];
    entries
        .into_iter()
        .map(|(name, configured)| ProviderHealth {
            name: name.to_string(),
            status: if config.sandbox {
                ProviderStatus::Sandbox
            } else if configured {
                ProviderStatus::Configured
            } else {
                ProviderStatus::NotConfigured
            },
        })
        .collect()
}
