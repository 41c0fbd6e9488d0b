//! One instance's work on one broadcast: claim a batch of recipients (about a tenth of a
//! second's worth at the integration's rate), send each once its rate limit allows, record
//! what the channel answered, report progress a few times a second, and finish the broadcast
//! when nobody is left. Every instance does this for every broadcast being sent, so they
//! share the work; the rate limit they share is the integration's.
//!
//! A cancelled broadcast (seen here within [`WATCH`], or at once when cancelled on this
//! instance) stops between sends: what was claimed and not sent goes back to PENDING.

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::claims::{self, Claimed, Outcome};
use super::entity::BroadcastStatus;
use super::lifecycle;
use super::store::{self, Broadcast};
use crate::channels::{self, Integration, IntegrationState};
use crate::error::{AppError, AppResult};
use crate::providers::ProviderError;
use crate::services::Services;

/// How often a sender reads its broadcast's status, to stop when it is cancelled elsewhere.
const WATCH: Duration = Duration::from_millis(100);

/// Progress is reported at most this often while sending (and at every status change).
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// The longest a sender with nothing to claim waits before it looks again.
const IDLE: Duration = Duration::from_millis(100);

/// Sends what this instance can of `broadcast` until it is finished, cancelled, or `stop`.
pub async fn send(s: Services, broadcast: Broadcast, instance: String, stop: CancellationToken) {
    let watcher = tokio::spawn(watch(s.clone(), broadcast.id.clone(), stop.clone()));
    if let Err(err) = work(&s, &broadcast, &instance, &stop).await {
        tracing::warn!(broadcast = %broadcast.id, error = ?err, "a broadcast sender stopped on an error; it starts again");
    }
    watcher.abort();
}

/// Cancels `stop` once the broadcast is final (cancelled, say, on another instance).
async fn watch(s: Services, id: String, stop: CancellationToken) {
    let mut tick = tokio::time::interval(WATCH);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store::load(&s.db, &id).await {
            Ok(broadcast) if !broadcast.status.is_final() => {}
            Ok(_) | Err(AppError::NotFound(_)) => return stop.cancel(),
            Err(err) => {
                tracing::warn!(broadcast = %id, error = ?err, "could not read a broadcast's status")
            }
        }
    }
}

async fn work(
    s: &Services,
    broadcast: &Broadcast,
    instance: &str,
    stop: &CancellationToken,
) -> AppResult<()> {
    let integration = match channels::load(&s.db, &broadcast.integration_id).await {
        Ok(found) if found.state != IntegrationState::Disconnected => found,
        Ok(_) | Err(AppError::NotFound(_)) => {
            let why = Some("the integration is disconnected".to_string());
            let processing = [BroadcastStatus::Processing];
            lifecycle::apply(s, &broadcast.id, &processing, BroadcastStatus::Failed, why).await?;
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    // Whatever ends the sending (done, stopped, an error), what is in hand is recorded: the
    // outcomes as they are, the recipients claimed and not sent as unsent (back to pending).
    let mut hand = InHand::default();
    let sent = send_batches(s, &integration, broadcast, instance, stop, &mut hand).await;
    let recorded = record(s, &broadcast.id, instance, hand.into_records()).await;
    sent.and(recorded)
}

/// What a sender holds that the database does not know yet.
#[derive(Default)]
struct InHand {
    outcomes: Vec<(i64, Outcome)>,
    claimed: Vec<Claimed>,
}

impl InHand {
    fn into_records(self) -> Vec<(i64, Outcome)> {
        let unsent = self
            .claimed
            .iter()
            .map(|one| (one.position, Outcome::Unsent));
        self.outcomes.into_iter().chain(unsent).collect()
    }
}

/// Sends batch after batch until the broadcast is done or `stop`. While one batch is sent, the
/// one before is recorded and the next one claimed, so the integration's budget is not left
/// idle while the database is written. A crash meanwhile leaves at most those two batches
/// claimed and unconfirmed: reported UNKNOWN, never resent.
async fn send_batches(
    s: &Services,
    integration: &Integration,
    broadcast: &Broadcast,
    instance: &str,
    stop: &CancellationToken,
    hand: &mut InHand,
) -> AppResult<()> {
    let batch = (channels::send_rate(s, integration) / 10.0).clamp(1.0, 100.0) as u64;
    let mut reported = Instant::now();
    hand.claimed = claims::claim(s, &broadcast.id, instance, batch).await?;
    while !stop.is_cancelled() {
        if hand.claimed.is_empty() {
            flush(s, &broadcast.id, instance, &mut hand.outcomes).await?;
            if finish_when_done(s, &broadcast.id).await? {
                return Ok(());
            }
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(s.config.broadcasts.poll().min(IDLE)) => {}
            }
            hand.claimed = claims::claim(s, &broadcast.id, instance, batch).await?;
            continue;
        }
        // In flight once handed to the channel: an error now leaves them claimed (UNKNOWN).
        let sending = std::mem::take(&mut hand.claimed);
        let sending = deliver(s, integration, broadcast, instance, sending, stop);
        let previous = &mut hand.outcomes;
        let bookkeeping = async {
            flush(s, &broadcast.id, instance, previous).await?;
            if stop.is_cancelled() {
                return Ok(Vec::new());
            }
            claims::claim(s, &broadcast.id, instance, batch).await
        };
        let (sent, next) = tokio::join!(sending, bookkeeping);
        // Both kept before either error is looked at, so that the caller records them.
        let sent = sent.map(|outcomes| hand.outcomes.extend(outcomes));
        let next = next.map(|claimed| hand.claimed = claimed);
        sent.and(next)?;
        // Progress as recorded: a batch behind, a tenth of a second.
        if reported.elapsed() >= REPORT_EVERY {
            lifecycle::report(s, &broadcast.id).await?;
            reported = Instant::now();
        }
    }
    Ok(())
}

/// Records `outcomes` and empties it; left as it was when the database refuses.
async fn flush(
    s: &Services,
    broadcast_id: &str,
    instance: &str,
    outcomes: &mut Vec<(i64, Outcome)>,
) -> AppResult<()> {
    record(s, broadcast_id, instance, outcomes.clone()).await?;
    outcomes.clear();
    Ok(())
}

/// [`claims::record`], when there is something to record.
async fn record(
    s: &Services,
    broadcast_id: &str,
    instance: &str,
    outcomes: Vec<(i64, Outcome)>,
) -> AppResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    claims::record(s, broadcast_id, instance, outcomes).await
}

/// Sends to every claimed recipient, each when the rate limit gives it a slot, renewing the
/// claims meanwhile; answers each one's outcome.
async fn deliver(
    s: &Services,
    integration: &Integration,
    broadcast: &Broadcast,
    instance: &str,
    claimed: Vec<Claimed>,
    stop: &CancellationToken,
) -> AppResult<Vec<(i64, Outcome)>> {
    let count = claimed.len();
    let mut sends: FuturesUnordered<_> = claimed
        .into_iter()
        .map(|one| async move {
            let outcome = send_one(s, integration, &broadcast.message, &one, stop).await;
            (one.position, outcome)
        })
        .collect();
    let every = s.config.broadcasts.lease() / 3;
    let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut outcomes = Vec::with_capacity(count);
    loop {
        tokio::select! {
            next = sends.next() => match next {
                Some(outcome) => outcomes.push(outcome),
                None => return Ok(outcomes),
            },
            _ = renewal.tick() => claims::renew(s, &broadcast.id, instance).await?,
        }
    }
}

async fn send_one(
    s: &Services,
    integration: &Integration,
    text: &str,
    to: &Claimed,
    stop: &CancellationToken,
) -> Outcome {
    let permit = tokio::select! {
        permit = channels::permit(s, integration) => permit,
        _ = stop.cancelled() => return Outcome::Unsent,
    };
    if stop.is_cancelled() {
        return Outcome::Unsent;
    }
    match channels::send_permitted(s, permit, integration, &to.recipient, text).await {
        Ok(_) => Outcome::Sent,
        Err(err) => judge(s, &err, to.attempts as u32 + 1),
    }
}

/// A failure after `attempt` attempts: tried again when it may pass and attempts are left.
fn judge(s: &Services, err: &ProviderError, attempt: u32) -> Outcome {
    let config = &s.config.broadcasts;
    if err.is_transient() && attempt < config.max_attempts {
        Outcome::Retry {
            error: err.describe(),
            after: config.backoff(attempt, err.retry_after),
        }
    } else {
        Outcome::Failed(err.describe())
    }
}

/// Once nobody is left to send to (recipients of a stopped sender reported UNKNOWN), the
/// broadcast is COMPLETED, or FAILED when nobody could be sent to; answers whether it is
/// over.
async fn finish_when_done(s: &Services, id: &str) -> AppResult<bool> {
    if claims::expire(s, id).await? > 0 {
        lifecycle::report(s, id).await?;
    }
    let counts = store::counts(&s.db, id).await?;
    if counts.pending > 0 || counts.sending > 0 {
        return Ok(false);
    }
    let (to, why) = match counts.sent {
        0 => (
            BroadcastStatus::Failed,
            Some("no recipient could be sent to".to_string()),
        ),
        _ => (BroadcastStatus::Completed, None),
    };
    lifecycle::apply(s, id, &[BroadcastStatus::Processing], to, why).await?;
    Ok(true)
}
