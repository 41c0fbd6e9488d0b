//! When a task's Jira request was sent: a task sent but never marked created or failed may
//! exist in Jira already, and is looked for there before it is sent again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("meeting_tasks")
                    .add_column(timestamp_with_time_zone_null("jira_requested_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("meeting_tasks")
                    .drop_column("jira_requested_at")
                    .to_owned(),
            )
            .await
    }
}
