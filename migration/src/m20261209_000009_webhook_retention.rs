//! What the webhooks' retention sweep reads: deliveries by status and last change, events by
//! age, and deliveries by event (for "no delivery left", and for the cascade when an event is
//! deleted, which would otherwise scan every delivery on Postgres).

use sea_orm_migration::prelude::*;

use crate::shape::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &[&str]); 3] = [
    (
        "webhook_deliveries_ended",
        "webhook_deliveries",
        &["status", "updated_at"],
    ),
    (
        "webhook_deliveries_event",
        "webhook_deliveries",
        &["event_id"],
    ),
    ("webhook_events_age", "webhook_events", &["created_at"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in INDEXES {
            index(manager, name, table, cols, false).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(table.to_string()).to_owned())
                .await?;
        }
        Ok(())
    }
}
