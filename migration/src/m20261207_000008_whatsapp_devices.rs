//! WhatsApp devices paired through a WAHA server: the status of each one's WAHA session
//! (STARTING, SCAN_QR_CODE, WORKING, ...), which the integration's state follows. Other kinds
//! have none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("integrations")
                    .add_column(string_null("session_status"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("integrations")
                    .drop_column("session_status")
                    .to_owned(),
            )
            .await
    }
}
