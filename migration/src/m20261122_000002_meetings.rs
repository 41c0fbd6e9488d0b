//! Meeting bots, their status history, transcripts and the tasks made from them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("meeting_bots")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("user_id"))
                    .col(text("meet_url"))
                    .col(string("platform"))
                    .col(string("native_meeting_id"))
                    .col(string("bot_name"))
                    .col(string("status"))
                    // The sequence of the latest status change: the version for conditional updates.
                    .col(big_integer("sequence"))
                    .col(string_null("external_bot_id"))
                    .col(string_null("session_id"))
                    .col(text_null("error_message"))
                    .col(text_null("result_data"))
                    .col(text_null("audio_url"))
                    .col(text_null("summary"))
                    .col(string_null("idempotency_key"))
                    // Set while the bot is not final: one active bot per meeting per organisation.
                    .col(string_null("active_key").unique_key())
                    .col(timestamp_with_time_zone("status_changed_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_meeting_bots_org_created")
                    .table("meeting_bots")
                    .col("org_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_meeting_bots_status")
                    .table("meeting_bots")
                    .col("status")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_meeting_bots_idempotency")
                    .table("meeting_bots")
                    .col("org_id")
                    .col("idempotency_key")
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("bot_status_changes")
                    .if_not_exists()
                    .col(string("bot_id"))
                    .col(big_integer("sequence"))
                    .col(string("status"))
                    .col(string("source"))
                    .col(text_null("reason"))
                    .col(timestamp_with_time_zone("at"))
                    .primary_key(Index::create().col("bot_id").col("sequence"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("bot_status_changes", "bot_id")
                            .to("meeting_bots", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("transcript_segments")
                    .if_not_exists()
                    .col(string("bot_id"))
                    .col(big_integer("sequence"))
                    .col(double("start_secs"))
                    .col(double("end_secs"))
                    .col(string_null("speaker"))
                    .col(text("text"))
                    .primary_key(Index::create().col("bot_id").col("sequence"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("transcript_segments", "bot_id")
                            .to("meeting_bots", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("meeting_tasks")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("bot_id"))
                    .col(integer("position"))
                    .col(text("title"))
                    .col(text("description"))
                    .col(string_null("assignee"))
                    .col(string_null("jira_key"))
                    .col(text_null("jira_url"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("meeting_tasks", "bot_id")
                            .to("meeting_bots", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_meeting_tasks_bot")
                    .table("meeting_tasks")
                    .col("bot_id")
                    .col("position")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "meeting_tasks",
            "transcript_segments",
            "bot_status_changes",
            "meeting_bots",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
