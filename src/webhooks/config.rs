//! The webhooks domain's settings. Part of [`crate::config::Config`]; checked by
//! [`WebhooksConfig::validate`] at start-up.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Args;

use crate::config::at_least_one;

#[derive(Args, Debug, Clone)]
pub struct WebhooksConfig {
    /// Lets endpoints use plain http and private, loopback or link-local addresses (for
    /// development: a receiver on this machine). Off: https to public addresses only, checked
    /// at registration and again at every connection.
    #[arg(long = "webhooks-allow-private", env = "WEBHOOKS_ALLOW_PRIVATE", value_parser = BoolishValueParser::new())]
    pub allow_private: bool,
    /// Seconds an endpoint has to answer a delivery; past it the attempt has failed.
    #[arg(
        long = "webhooks-timeout-secs",
        env = "WEBHOOKS_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub delivery_timeout_secs: u64,
    /// Hours an endpoint may fail every attempt before it is disabled.
    #[arg(
        long = "webhooks-disable-after-hours",
        env = "WEBHOOKS_DISABLE_AFTER_HOURS",
        default_value_t = 72
    )]
    pub disable_after_hours: u64,
    /// Deliveries one instance makes at once, in a pool of their own: slow endpoints never
    /// take the job slots of the rest of the server (JOBS_CONCURRENCY).
    #[arg(
        long = "webhooks-concurrency",
        env = "WEBHOOKS_CONCURRENCY",
        default_value_t = 32
    )]
    pub delivery_concurrency: usize,
    /// Deliveries one instance makes at once to one endpoint; fewer than WEBHOOKS_CONCURRENCY,
    /// so that a slow endpoint always leaves the others room.
    #[arg(
        long = "webhooks-endpoint-concurrency",
        env = "WEBHOOKS_ENDPOINT_CONCURRENCY",
        default_value_t = 4
    )]
    pub endpoint_concurrency: usize,
    /// Days a delivery that ended (delivered or failed) is kept in the log; events are kept as
    /// long, and while a delivery of theirs is pending.
    #[arg(
        id = "webhooks_retention_days",
        long = "webhooks-retention-days",
        env = "WEBHOOKS_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub retention_days: u64,
}

impl WebhooksConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        at_least_one(&[
            ("WEBHOOKS_TIMEOUT_SECS", self.delivery_timeout_secs),
            ("WEBHOOKS_DISABLE_AFTER_HOURS", self.disable_after_hours),
            ("WEBHOOKS_RETENTION_DAYS", self.retention_days),
            (
                "WEBHOOKS_ENDPOINT_CONCURRENCY",
                self.endpoint_concurrency as u64,
            ),
        ])?;
        if self.endpoint_concurrency >= self.delivery_concurrency {
            anyhow::bail!(
                "WEBHOOKS_ENDPOINT_CONCURRENCY ({}) must be below WEBHOOKS_CONCURRENCY ({}): one slow endpoint would take every delivery slot",
                self.endpoint_concurrency,
                self.delivery_concurrency
            );
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.delivery_timeout_secs)
    }

    pub fn disable_after(&self) -> chrono::Duration {
        // A million hours (114 years) is never; more would not fit a duration.
        chrono::Duration::hours(self.disable_after_hours.min(1_000_000) as i64)
    }

    pub fn retention(&self) -> chrono::Duration {
        // A hundred thousand days (273 years) is for ever; more would not fit a date.
        chrono::Duration::days(self.retention_days.min(100_000) as i64)
    }
}
