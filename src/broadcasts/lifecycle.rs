//! A broadcast's changes: its status moves with a conditional update (so of two instances
//! only one makes each move) that raises its sequence; committed, then announced. While it
//! sends, progress reports raise the sequence too, so `broadcastProgress` orders them.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::entity::{broadcast, BroadcastStatus};
use super::events::{BroadcastProgress, RecipientCounts};
use super::store::{self, Broadcast};
use crate::error::AppResult;
use crate::services::Services;
use crate::webhooks::{self, EventType, Outgoing};

/// Moves the broadcast to `to` if it is in one of `from`; `None` when it was not (another
/// instance or a person moved it first).
pub async fn transition<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    from: &[BroadcastStatus],
    to: BroadcastStatus,
    failure: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<Option<Broadcast>> {
    let now = now.trunc_subsecs(6);
    let mut update = broadcast::Entity::update_many()
        .col_expr(broadcast::Column::Status, Expr::value(to))
        .col_expr(
            broadcast::Column::Sequence,
            Expr::col(broadcast::Column::Sequence).add(1),
        )
        .col_expr(broadcast::Column::UpdatedAt, Expr::value(now));
    if to == BroadcastStatus::Processing {
        update = update.col_expr(broadcast::Column::StartedAt, Expr::value(now));
    }
    if to.is_final() {
        update = update
            .col_expr(broadcast::Column::FinishedAt, Expr::value(now))
            .col_expr(broadcast::Column::Failure, Expr::value(failure));
    }
    let moved = update
        .filter(broadcast::Column::Id.eq(id))
        .filter(broadcast::Column::Status.is_in(from.iter().copied()))
        .exec(conn)
        .await?;
    if moved.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(store::load(conn, id).await?))
}

/// [`transition`] in a transaction of its own, announced once committed.
pub async fn apply(
    s: &Services,
    id: &str,
    from: &[BroadcastStatus],
    to: BroadcastStatus,
    failure: Option<String>,
) -> AppResult<Option<Broadcast>> {
    let txn = crate::db::begin(&s.db).await?;
    let moved = transition(&txn, id, from, to, failure, s.clock.now()).await?;
    if let Some(broadcast) = moved.as_ref().filter(|_| to.is_final()) {
        let counts = store::counts(&txn, &broadcast.id).await?;
        let outgoing = Outgoing::new(
            &broadcast.org_id,
            EventType::BroadcastCompleted,
            ended(broadcast, counts),
        );
        webhooks::emit_on(s, &txn, outgoing).await?;
    }
    txn.commit().await?;
    if let Some(broadcast) = &moved {
        s.jobs.wake();
        tracing::info!(broadcast = %broadcast.id, status = to.as_str(), "broadcast status changed");
        announce(s, broadcast).await;
    }
    Ok(moved)
}

/// What integrators hear when a broadcast ends, however it ends: `status` says how, the
/// counts how many were sent to, and `failure` why, when it failed.
fn ended(broadcast: &Broadcast, counts: RecipientCounts) -> serde_json::Value {
    json!({
        "broadcastId": broadcast.id,
        "agentId": broadcast.agent_id,
        "integrationId": broadcast.integration_id,
        "channel": broadcast.channel,
        "status": broadcast.status,
        "total": broadcast.total,
        "counts": counts,
        "failure": broadcast.failure,
        "startedAt": broadcast.started_at,
        "finishedAt": broadcast.finished_at,
    })
}

/// Tells the broadcast's subscribers where it stands now, under a new sequence.
pub async fn report(s: &Services, id: &str) -> AppResult<()> {
    crate::db::next_sequence(&s.db, "broadcasts", "sequence", id).await?;
    let broadcast = store::load(&s.db, id).await?;
    announce(s, &broadcast).await;
    Ok(())
}

/// Publishes the broadcast's progress as stored (after its change was committed).
pub async fn announce(s: &Services, broadcast: &Broadcast) {
    match progress(s, broadcast).await {
        Ok(progress) => s.bus.publish(progress).await,
        Err(err) => {
            tracing::warn!(broadcast = %broadcast.id, error = ?err, "could not read a broadcast's progress")
        }
    }
}

/// The broadcast's counts, rate and ETA, read now.
pub async fn progress(s: &Services, broadcast: &Broadcast) -> AppResult<BroadcastProgress> {
    let counts = store::counts(&s.db, &broadcast.id).await?;
    let now = s.clock.now();
    Ok(measure(broadcast, counts, now))
}

/// The rate since sending started and the time the rest takes at it. Pure.
pub fn measure(
    broadcast: &Broadcast,
    counts: RecipientCounts,
    now: DateTime<Utc>,
) -> BroadcastProgress {
    let until = broadcast.finished_at.unwrap_or(now);
    let elapsed = broadcast
        .started_at
        .map(|started| (until - started).num_milliseconds() as f64 / 1000.0)
        .unwrap_or_default();
    let rate = if elapsed > 0.0 {
        counts.sent as f64 / elapsed
    } else {
        0.0
    };
    let remaining = counts.pending + counts.sending;
    let eta_seconds = (broadcast.status == BroadcastStatus::Processing && rate > 0.0)
        .then(|| remaining as f64 / rate);
    BroadcastProgress {
        broadcast_id: broadcast.id.clone().into(),
        sequence: broadcast.sequence,
        status: broadcast.status,
        total: broadcast.total,
        counts,
        rate,
        eta_seconds,
        failure: broadcast.failure.clone(),
        at: now,
    }
}
