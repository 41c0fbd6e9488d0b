//! The delivery log and its events are kept `WEBHOOKS_RETENTION_DAYS`: an hourly sweep, run as
//! a job so that one instance does it, deletes the deliveries that ended (DELIVERED or FAILED)
//! that long ago, then the events as old that no delivery refers to any more. A delivery still
//! PENDING, and so its event, is kept however old it is.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{delivery, event, DeliveryStatus};
use crate::error::AppResult;
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::services::Services;

pub const PURGE_KIND: &str = "webhooks.purge";

/// Rows deleted in one transaction, so that a first sweep of a large backlog never holds
/// SQLite's write lock for long.
const BATCH: u64 = 500;

pub struct Purge(Services);

impl Purge {
    pub fn handler(s: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self(s))
    }
}

#[async_trait]
impl JobHandler for Purge {
    fn kind(&self) -> &'static str {
        PURGE_KIND
    }

    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        let s = &self.0;
        let days = s.config.webhooks.retention_days;
        let cutoff = s.clock.now() - s.config.webhooks.retention();
        let (deliveries, events) = purge_older_than(s, cutoff).await?;
        if deliveries + events > 0 {
            tracing::info!(
                deliveries,
                events,
                days,
                "deleted webhook deliveries and events past their retention"
            );
        }
        Ok(())
    }
}

/// Deletes the deliveries that ended before `cutoff`, then the events recorded before it that
/// have no delivery left: how many of each.
pub async fn purge_older_than(s: &Services, cutoff: DateTime<Utc>) -> AppResult<(u64, u64)> {
    let ended = [DeliveryStatus::Delivered, DeliveryStatus::Failed];
    let mut deliveries = 0;
    loop {
        let txn = crate::db::begin(&s.db).await?;
        let ids: Vec<String> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            .filter(delivery::Column::Status.is_in(ended))
            .filter(delivery::Column::UpdatedAt.lt(cutoff))
            .limit(BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        let found = ids.len() as u64;
        delivery::Entity::delete_many()
            .filter(delivery::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        deliveries += found;
        if found < BATCH {
            break;
        }
    }
    let mut events = 0;
    loop {
        let txn = crate::db::begin(&s.db).await?;
        let referred = Query::select()
            .expr(Expr::val(1))
            .from(delivery::Entity)
            .and_where(
                Expr::col((delivery::Entity, delivery::Column::EventId))
                    .equals((event::Entity, event::Column::Id)),
            )
            .to_owned();
        let ids: Vec<String> = event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .filter(event::Column::CreatedAt.lt(cutoff))
            .filter(Expr::not_exists(referred))
            .limit(BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        let found = ids.len() as u64;
        event::Entity::delete_many()
            .filter(event::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        events += found;
        if found < BATCH {
            return Ok((deliveries, events));
        }
    }
}
