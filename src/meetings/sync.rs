//! Keeps INITIALIZED … CONNECTED bots current with the bot service: a poll every few seconds
//! (many bots at once, each on its own, so one slow or failing bot never holds the rest back),
//! plus the timeouts that fail bots stuck before or at the door, or in a meeting that never
//! ends.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::lifecycle::{change_status_from, Transition};
use super::remote::{apply_remote, bot_ref};
use super::status::{BotStatus, ChangeSource};
use super::store;
use crate::db::Leader;
use crate::error::AppResult;
use crate::services::Services;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Bots asked about.
    pub checked: usize,
    /// Bots the service could not answer for this time.
    pub failed: usize,
    /// Bots failed by a timeout.
    pub timed_out: usize,
}

/// Polls the bot service every `BOT_SYNC_INTERVAL_SECS` (never when it is 0), until shutdown.
pub async fn keep_in_sync(s: Services, shutdown: CancellationToken) {
    let period = s.config.meetings.sync_interval_secs;
    if period == 0 {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(period));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leader = SyncLeader::new(&s);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if !leader.lead().await {
            continue;
        }
        if let Err(err) = sync_once(&s).await {
            tracing::warn!(error = ?err, "bot status sync failed");
        }
    }
}

/// Several instances on one Postgres database: only the one leading (see
/// [`crate::db::Leader`]) polls the bot service, so it is asked once per tick, not once per
/// instance.
pub struct SyncLeader(Leader);

/// The advisory lock's key: "SWBDSYNC" in ASCII.
const SYNC_LOCK_KEY: i64 = 0x5357_4244_5359_4e43;

impl SyncLeader {
    pub fn new(s: &Services) -> Self {
        Self(Leader::new(&s.db, SYNC_LOCK_KEY, "the bot status sync"))
    }

    /// Whether this instance runs the sync now.
    pub async fn lead(&mut self) -> bool {
        self.0.lead().await
    }
}

pub async fn sync_once(s: &Services) -> AppResult<SyncReport> {
    let bots = store::synced_bots(&s.db).await?;
    let mut report = SyncReport::default();
    if bots.is_empty() {
        return Ok(report);
    }
    let now = Utc::now();
    let limits = &s.config.meetings;
    // A bot whose answer takes longer than a tick counts as failed this tick and is asked
    // again at the next, so that a slow one never delays the ticks of the rest.
    let within = Duration::from_secs(limits.sync_interval_secs.max(1));
    let mut live = Vec::with_capacity(bots.len());
    let mut expired = Vec::new();
    for bot in bots {
        let status = bot.status;
        let waited = (now - bot.created_at).num_seconds().max(0) as u64;
        let in_status = (now - bot.status_changed_at).num_seconds().max(0) as u64;
        match status {
            BotStatus::Initialized | BotStatus::Connecting
                if waited >= limits.connect_timeout_secs =>
            {
                expired.push((
                    bot,
                    format!(
                        "timed out connecting: not in the meeting {} s after it was triggered",
                        limits.connect_timeout_secs
                    ),
                ));
            }
            BotStatus::AwaitingAdmission if in_status >= limits.admission_timeout_secs => {
                expired.push((
                    bot,
                    format!(
                        "timed out awaiting admission: nobody let the bot in within {} s",
                        limits.admission_timeout_secs
                    ),
                ));
            }
            BotStatus::Connected if in_status >= limits.meeting_timeout_secs => {
                expired.push((
                    bot,
                    format!(
                        "timed out in the meeting: still there {} s after joining",
                        limits.meeting_timeout_secs
                    ),
                ));
            }
            _ => live.push(bot),
        }
    }
    report.timed_out = expired.len();
    let bot_service = s.providers.bot_service().ok();
    let concurrency = limits.sync_concurrency.max(1);
    // The bot fails here first; asking the service to call it back is best effort.
    let fail_expired = futures_util::stream::iter(expired)
        .map(|(bot, reason)| async move {
            let failure = Transition::failure(reason);
            // Only if the bot is still where it was when it was found too slow: one that
            // joined since, say, has not timed out.
            match change_status_from(s, &bot, BotStatus::Error, ChangeSource::System, &failure)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::debug!(bot = %bot.id, "timeout not applied: the bot changed since");
                    return;
                }
                Err(err) => {
                    tracing::debug!(bot = %bot.id, error = ?err, "timeout not applied");
                    return;
                }
            }
            if let (Some(reference), Some(bot_service)) = (bot_ref(&bot), bot_service) {
                let _ = tokio::time::timeout(within, bot_service.stop(&reference)).await;
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>();
    let (references, followed): (Vec<_>, Vec<_>) = live
        .iter()
        .filter_map(|bot| Some((bot_ref(bot)?, bot)))
        .unzip();
    // Each answer is applied as it comes, in its own transaction, several at once; the
    // bots the service did not answer for are counted.
    let follow_live = async {
        let Some(bot_service) = &bot_service else {
            return 0;
        };
        bot_service
            .statuses(&references, concurrency, within)
            .filter_map(|(position, answer)| {
                // Owned, which keeps the stream's futures free of borrowed arguments.
                let bot = followed.get(position).map(|bot| (*bot).clone());
                std::future::ready(bot.map(|bot| (bot, answer)))
            })
            .map(|(bot, answer)| async move {
                match answer {
                    Ok(remote) => {
                        apply_remote(s, &bot, &remote, ChangeSource::Sync).await;
                        false
                    }
                    Err(err) => {
                        tracing::debug!(bot = %bot.id, error = %err.describe(), "bot service did not answer for this bot");
                        true
                    }
                }
            })
            .buffer_unordered(concurrency.min(16))
            .filter(|unanswered| std::future::ready(*unanswered))
            .count()
            .await
    };
    let (_, failed) = tokio::join!(fail_expired, follow_live);
    if bot_service.is_some() {
        report.checked = references.len();
    }
    report.failed = failed;
    metrics::counter!("switchboard_bot_sync_checks_total").increment(report.checked as u64);
    Ok(report)
}
