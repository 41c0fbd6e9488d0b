//! Meeting bots are kept `MEETINGS_RETENTION_DAYS`: an hourly purge, run as a job so that one
//! instance does it, scheduled by every instance whether or not it syncs.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{bot, segment, status_change, task};
use crate::error::AppResult;
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::services::Services;

pub const PURGE_KIND: &str = "meetings.purge";

pub struct Purge {
    services: Services,
}

impl Purge {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }
}

#[async_trait]
impl JobHandler for Purge {
    fn kind(&self) -> &'static str {
        PURGE_KIND
    }

    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        let days = self.services.config.meetings.retention_days as i64;
        let cutoff = Utc::now() - chrono::Duration::days(days);
        let purged = purge_older_than(&self.services.db, cutoff).await?;
        if purged > 0 {
            tracing::info!(purged, days, "deleted meeting bots past their retention");
        }
        Ok(())
    }
}

/// Deletes bots created before `cutoff` whose status has not changed since either, with their
/// history, transcript and tasks: a bot still moving (a pipeline retrying) is not old.
pub async fn purge_older_than(
    db: &DatabaseConnection,
    cutoff: chrono::DateTime<Utc>,
) -> AppResult<u64> {
    let mut purged = 0;
    loop {
        // A batch at a time, each bot with its rows in one transaction, so that a first purge
        // of a large backlog never holds SQLite's write lock for long.
        let txn = crate::db::begin(db).await?;
        let ids = bot::Entity::find()
            .select_only()
            .column(bot::Column::Id)
            .filter(bot::Column::CreatedAt.lt(cutoff))
            .filter(bot::Column::StatusChangedAt.lt(cutoff))
            .limit(PURGE_BATCH)
            .into_tuple::<String>()
            .all(&txn)
            .await?;
        let found = ids.len() as u64;
        task::Entity::delete_many()
            .filter(task::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        segment::Entity::delete_many()
            .filter(segment::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        status_change::Entity::delete_many()
            .filter(status_change::Column::BotId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        bot::Entity::delete_many()
            .filter(bot::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        purged += found;
        if found < PURGE_BATCH {
            return Ok(purged);
        }
    }
}

const PURGE_BATCH: u64 = 500;
