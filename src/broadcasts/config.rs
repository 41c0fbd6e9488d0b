//! The broadcasts' settings: retries, how long a sender's claim holds, and how often senders
//! look for work. (Each integration's rate is the channels domain's setting.)

use std::time::Duration;

use anyhow::bail;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct BroadcastsConfig {
    /// Attempts at one recipient when the channel fails in passing (network, 5xx, 429).
    #[arg(
        id = "broadcast_max_attempts",
        long = "broadcast-max-attempts",
        env = "BROADCAST_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub max_attempts: u32,
    /// First wait before a recipient is tried again, in milliseconds; it doubles with every
    /// attempt (up to a minute), or is what the channel's Retry-After asks if longer.
    #[arg(
        id = "broadcast_retry_ms",
        long = "broadcast-retry-ms",
        env = "BROADCAST_RETRY_MS",
        default_value_t = 2000
    )]
    pub retry_ms: u64,
    /// Seconds a sender's claim on recipients holds without renewal: after that, recipients
    /// it left SENDING are taken for interrupted and reported UNKNOWN.
    #[arg(
        id = "broadcast_lease_secs",
        long = "broadcast-lease-secs",
        env = "BROADCAST_LEASE_SECS",
        default_value_t = 30
    )]
    pub lease_secs: u64,
    /// How often an instance looks for broadcasts to start or help send, in milliseconds.
    #[arg(
        id = "broadcast_poll_ms",
        long = "broadcast-poll-ms",
        env = "BROADCAST_POLL_MS",
        default_value_t = 1000
    )]
    pub poll_ms: u64,
}

impl BroadcastsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_attempts == 0 {
            bail!("BROADCAST_MAX_ATTEMPTS must be at least 1");
        }
        if self.lease_secs < 2 {
            bail!("BROADCAST_LEASE_SECS must be at least 2");
        }
        if self.poll_ms == 0 {
            bail!("BROADCAST_POLL_MS must be at least 1");
        }
        Ok(())
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed ones.
    pub fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let doubled = self
            .retry_ms
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        Duration::from_millis(doubled.min(60_000)).max(asked.unwrap_or_default())
    }
}
