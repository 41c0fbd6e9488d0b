//! A broadcast's recipients as senders work through them: claimed in batches by a conditional
//! update (SENDING, with the claiming instance and time, `FOR UPDATE SKIP LOCKED` on
//! Postgres) so no two senders take the same one; marked with what the channel answered;
//! claims renewed while a batch is sent; and the claims of a sender that stopped answering
//! (lease run out) turned UNKNOWN, never sent again.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, Value,
};

use super::entity::{recipient, RecipientStatus};
use crate::db::{now_millis, placeholders};
use crate::error::AppResult;
use crate::services::Services;

/// A recipient this instance holds.
pub struct Claimed {
    pub position: i64,
    pub recipient: String,
    /// Attempts before this one.
    pub attempts: i32,
}

/// What became of one claimed recipient.
#[derive(Clone)]
pub enum Outcome {
    Sent,
    /// Failed in passing: tried again after the wait.
    Retry {
        error: String,
        after: Duration,
    },
    /// Refused for good, or out of attempts.
    Failed(String),
    /// Not sent: the sender stopped first (cancelled, or the server is stopping).
    Unsent,
}

/// Up to `most` pending recipients due now, in their order, marked SENDING by `instance`.
pub async fn claim(
    s: &Services,
    broadcast_id: &str,
    instance: &str,
    most: u64,
) -> AppResult<Vec<Claimed>> {
    let backend = s.db.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    // The pick is materialized: Postgres may otherwise run a `LIMIT … SKIP LOCKED`
    // subquery once per row it updates, each run skipping the rows just locked, and so
    // claim far more than `most`.
    let sql = format!(
        "WITH picked AS MATERIALIZED (SELECT position FROM broadcast_recipients \
         WHERE broadcast_id = $3 AND status = 'pending' AND next_attempt_at <= $4 \
         ORDER BY position LIMIT {most} {lock}) \
         UPDATE broadcast_recipients SET status = 'sending', claimed_by = $1, claimed_at = $2 \
         WHERE broadcast_id = $3 AND status = 'pending' \
         AND position IN (SELECT position FROM picked) \
         RETURNING position, recipient, attempts"
    );
    let values: Vec<Value> = vec![
        instance.into(),
        now_millis().into(),
        broadcast_id.into(),
        s.clock.now().timestamp_millis().into(),
    ];
    let statement = Statement::from_sql_and_values(backend, placeholders(backend, &sql), values);
    let rows = s.db.query_all_raw(statement).await?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            Ok(Claimed {
                position: row.try_get("", "position")?,
                recipient: row.try_get("", "recipient")?,
                attempts: row.try_get("", "attempts")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    claimed.sort_by_key(|c| c.position);
    Ok(claimed)
}

/// The recipients `instance` holds of the broadcast, each given its outcome, in one
/// transaction. A recipient no longer held (its claim ran out and it was reported UNKNOWN)
/// is left as it is.
pub async fn record(
    s: &Services,
    broadcast_id: &str,
    instance: &str,
    outcomes: Vec<(i64, Outcome)>,
) -> AppResult<()> {
    let held = || {
        recipient::Entity::update_many()
            .filter(recipient::Column::BroadcastId.eq(broadcast_id))
            .filter(recipient::Column::ClaimedBy.eq(instance))
            .filter(recipient::Column::Status.eq(RecipientStatus::Sending))
    };
    let mut sent = Vec::new();
    let mut unsent = Vec::new();
    let txn = crate::db::begin(&s.db).await?;
    for (position, outcome) in outcomes {
        let (status, error, after) = match outcome {
            Outcome::Sent => {
                sent.push(position);
                continue;
            }
            Outcome::Unsent => {
                unsent.push(position);
                continue;
            }
            Outcome::Retry { error, after } => (RecipientStatus::Pending, error, after),
            Outcome::Failed(error) => (RecipientStatus::Failed, error, Duration::ZERO),
        };
        let next = s.clock.now().timestamp_millis() + after.as_millis() as i64;
        held()
            .col_expr(recipient::Column::Status, Expr::value(status))
            .col_expr(
                recipient::Column::Attempts,
                Expr::col(recipient::Column::Attempts).add(1),
            )
            .col_expr(recipient::Column::NextAttemptAt, Expr::value(next))
            .col_expr(recipient::Column::Error, Expr::value(error))
            .col_expr(recipient::Column::ClaimedBy, Expr::value(None::<String>))
            .filter(recipient::Column::Position.eq(position))
            .exec(&txn)
            .await?;
    }
    if !sent.is_empty() {
        held()
            .col_expr(
                recipient::Column::Status,
                Expr::value(RecipientStatus::Sent),
            )
            .col_expr(
                recipient::Column::Attempts,
                Expr::col(recipient::Column::Attempts).add(1),
            )
            .col_expr(
                recipient::Column::SentAt,
                Expr::value(Utc::now().trunc_subsecs(6)),
            )
            .col_expr(recipient::Column::Error, Expr::value(None::<String>))
            .filter(recipient::Column::Position.is_in(sent))
            .exec(&txn)
            .await?;
    }
    if !unsent.is_empty() {
        held()
            .col_expr(
                recipient::Column::Status,
                Expr::value(RecipientStatus::Pending),
            )
            .col_expr(recipient::Column::ClaimedBy, Expr::value(None::<String>))
            .col_expr(recipient::Column::ClaimedAt, Expr::value(None::<i64>))
            .filter(recipient::Column::Position.is_in(unsent))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Tells the others that `instance` still works on what it claimed of the broadcast.
pub async fn renew(s: &Services, broadcast_id: &str, instance: &str) -> AppResult<()> {
    recipient::Entity::update_many()
        .col_expr(recipient::Column::ClaimedAt, Expr::value(now_millis()))
        .filter(recipient::Column::BroadcastId.eq(broadcast_id))
        .filter(recipient::Column::ClaimedBy.eq(instance))
        .filter(recipient::Column::Status.eq(RecipientStatus::Sending))
        .exec(&s.db)
        .await?;
    Ok(())
}

/// Recipients left SENDING by a sender whose claim ran out (its process died mid-send):
/// UNKNOWN, since the channel may have taken them; answers how many.
pub async fn expire(s: &Services, broadcast_id: &str) -> AppResult<u64> {
    let cutoff = now_millis() - s.config.broadcasts.lease().as_millis() as i64;
    let expired = recipient::Entity::update_many()
        .col_expr(
            recipient::Column::Status,
            Expr::value(RecipientStatus::Unknown),
        )
        .col_expr(
            recipient::Column::Error,
            Expr::value(
                "its sender stopped before the channel's answer was recorded; not sent again",
            ),
        )
        .filter(recipient::Column::BroadcastId.eq(broadcast_id))
        .filter(recipient::Column::Status.eq(RecipientStatus::Sending))
        .filter(recipient::Column::ClaimedAt.lt(cutoff))
        .exec(&s.db)
        .await?;
    if expired.rows_affected > 0 {
        tracing::warn!(
            broadcast = broadcast_id,
            recipients = expired.rows_affected,
            "recipients claimed by a stopped sender are reported UNKNOWN"
        );
    }
    Ok(expired.rows_affected)
}
