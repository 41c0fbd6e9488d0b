//! When the bot service first said a bot's meeting was over: the seed's service hands the
//! recording over by a callback after that, so the bot waits for it a while before it is
//! taken to have ended with none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("meeting_bots")
                    .add_column(timestamp_with_time_zone_null("remote_ended_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("meeting_bots")
                    .drop_column("remote_ended_at")
                    .to_owned(),
            )
            .await
    }
}
