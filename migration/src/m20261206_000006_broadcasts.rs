//! Broadcasts: one message sent to many recipients of one integration, each recipient's
//! own status (claimed before it is sent, marked after), and the send budgets that one rate
//! limit per integration keeps in the database so every instance shares it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("broadcasts")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("agent_id"))
                    .col(string("integration_id"))
                    .col(string("channel"))
                    .col(text("message"))
                    .col(string("status"))
                    .col(big_integer("total"))
                    // Raised with every change and progress report `broadcastProgress` sends.
                    .col(big_integer("sequence").default(0))
                    .col(text_null("failure"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone_null("scheduled_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_broadcasts_org_agent_created")
                    .table("broadcasts")
                    .col("org_id")
                    .col("agent_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_broadcasts_status")
                    .table("broadcasts")
                    .col("status")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("broadcast_recipients")
                    .if_not_exists()
                    .col(string("broadcast_id"))
                    // Its place in the request, from 0.
                    .col(big_integer("position"))
                    .col(string("recipient"))
                    .col(string("status"))
                    .col(integer("attempts").default(0))
                    // Milliseconds on the server's clock: not claimed before (retry backoff).
                    .col(big_integer("next_attempt_at").default(0))
                    // The instance that claimed it (status sending), and when (system ms).
                    .col(string_null("claimed_by"))
                    .col(big_integer_null("claimed_at"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .primary_key(Index::create().col("broadcast_id").col("position"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("broadcast_recipients", "broadcast_id")
                            .to("broadcasts", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_broadcast_recipients_claim")
                    .table("broadcast_recipients")
                    .col("broadcast_id")
                    .col("status")
                    .col("position")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("send_budgets")
                    .if_not_exists()
                    .col(string("integration_id").primary_key())
                    // GCRA's theoretical arrival time, in microseconds since the epoch.
                    .col(big_integer("tat_us"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["send_budgets", "broadcast_recipients", "broadcasts"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
