//! Outgoing webhooks: the endpoints an organisation registered (their signing secrets
//! sealed), the events recorded for them, and one delivery per (endpoint, event), which is
//! also the delivery log.

use sea_orm_migration::{prelude::*, schema::*};

use crate::shape::{cascade, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(text("url"))
                    .col(text_null("description"))
                    .col(text("event_types"))
                    .col(boolean("enabled"))
                    .col(text("secret"))
                    .col(text_null("previous_secret"))
                    .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                    .col(timestamp_with_time_zone_null("failing_since"))
                    .col(text_null("disabled_reason"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "webhook_endpoints_org",
            "webhook_endpoints",
            &["org_id", "created_at"],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_events")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string_len("event_type", 40))
                    .col(text("payload"))
                    .col(string_null("ordering_key"))
                    .col(big_integer_null("sequence"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("endpoint_id"))
                    .col(string("event_id"))
                    .col(string_len("status", 16))
                    .col(integer("attempts"))
                    .col(integer("round"))
                    .col(string_null("ordering_key"))
                    .col(big_integer_null("sequence"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(integer_null("last_status_code"))
                    .col(text_null("last_error"))
                    .col(text_null("response_excerpt"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade(
                        "webhook_deliveries",
                        "endpoint_id",
                        "webhook_endpoints",
                    ))
                    .foreign_key(&mut cascade(
                        "webhook_deliveries",
                        "event_id",
                        "webhook_events",
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "webhook_deliveries_pair",
            "webhook_deliveries",
            &["endpoint_id", "event_id"],
            true,
        )
        .await?;
        index(
            manager,
            "webhook_deliveries_log",
            "webhook_deliveries",
            &["endpoint_id", "created_at"],
            false,
        )
        .await?;
        index(
            manager,
            "webhook_deliveries_order",
            "webhook_deliveries",
            &["endpoint_id", "ordering_key", "status", "sequence"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_deliveries", "webhook_events", "webhook_endpoints"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
