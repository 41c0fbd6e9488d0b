//! API keys and the durable jobs table.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("prefix"))
                    .col(string_uniq("key_hash"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_org")
                    .table("api_keys")
                    .col("org_id")
                    .to_owned(),
            )
            .await?;

        // Times are Unix milliseconds: claim and retry arithmetic compares numbers the same
        // way on SQLite and Postgres.
        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("kind"))
                    .col(text("payload"))
                    .col(string("state"))
                    .col(integer("attempts").default(0))
                    .col(integer("max_attempts"))
                    .col(big_integer("run_at"))
                    .col(string_null("locked_by"))
                    .col(big_integer_null("locked_at"))
                    .col(text_null("last_error"))
                    .col(string_null("unique_key").unique_key())
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_due")
                    .table("jobs")
                    .col("state")
                    .col("run_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("jobs").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("api_keys").to_owned())
            .await
    }
}
