//! Memorial media: memorials (an organisation's albums), their photos and videos (the bytes
//! in object storage, what probing found here), and talking-photo animations with the steps
//! `animationStatus` replays.

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
                    .table("memorials")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "memorials_org",
            "memorials",
            &["org_id", "created_at"],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("media")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("memorial_id"))
                    .col(string_len("kind", 8))
                    .col(string("content_type"))
                    .col(string("file_name"))
                    .col(big_integer("size_bytes"))
                    .col(integer_null("width"))
                    .col(integer_null("height"))
                    .col(double_null("duration_secs"))
                    .col(string_null("codec"))
                    .col(string("storage_key"))
                    .col(string_null("thumbnail_key"))
                    .col(string_null("animation_id"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut cascade("media", "memorial_id", "memorials"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "media_memorial",
            "media",
            &["memorial_id", "created_at"],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("animations")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("memorial_id"))
                    .col(string("photo_id"))
                    .col(string_len("provider", 8))
                    .col(string_len("status", 16))
                    .col(text("script"))
                    .col(string_null("voice_id"))
                    .col(string_null("remote_id"))
                    // The provider's link to the finished video, while it is copied.
                    .col(text_null("remote_video_url"))
                    .col(string_null("result_media_id"))
                    .col(text_null("error"))
                    .col(big_integer("sequence").default(0))
                    .col(timestamp_with_time_zone_null("deadline_at"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade("animations", "memorial_id", "memorials"))
                    .foreign_key(&mut cascade("animations", "photo_id", "media"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "animations_photo",
            "animations",
            &["photo_id"],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("animation_steps")
                    .if_not_exists()
                    .col(string("animation_id"))
                    .col(big_integer("sequence"))
                    .col(string_len("status", 16))
                    .col(text("detail"))
                    .col(timestamp_with_time_zone("at"))
                    .primary_key(Index::create().col("animation_id").col("sequence"))
                    .foreign_key(&mut cascade(
                        "animation_steps",
                        "animation_id",
                        "animations",
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["animation_steps", "animations", "media", "memorials"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
