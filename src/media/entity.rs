//! The media domain's tables.

use async_graphql::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};

/// Where an animation is. PENDING → SUBMITTING → PROCESSING → DOWNLOADING → DONE, or FAILED
/// from any of them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Enum,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnimationStatus {
    /// Waiting for the worker.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The photo is being sent to the provider.
    #[sea_orm(string_value = "SUBMITTING")]
    Submitting,
    /// The provider is making the video.
    #[sea_orm(string_value = "PROCESSING")]
    Processing,
    /// The video is ready and being copied into our storage.
    #[sea_orm(string_value = "DOWNLOADING")]
    Downloading,
    #[sea_orm(string_value = "DONE")]
    Done,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl AnimationStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }

    /// The seed's word for it (`/api/v1/ai/animation/status`).
    pub fn seed_name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitting | Self::Processing | Self::Downloading => "processing",
            Self::Done => "done",
            Self::Failed => "error",
        }
    }
}

/// Who animates a photo.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Enum,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum AnimationProvider {
    #[sea_orm(string_value = "D_ID")]
    #[graphql(name = "D_ID")]
    #[serde(rename = "D_ID")]
    DId,
    #[sea_orm(string_value = "HEYGEN")]
    #[graphql(name = "HEYGEN")]
    #[serde(rename = "HEYGEN")]
    HeyGen,
}

pub mod memorial {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "memorials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub name: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod media {
    use sea_orm::entity::prelude::*;

    use crate::media::format::MediaKind;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "media")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub memorial_id: String,
        pub kind: MediaKind,
        pub content_type: String,
        /// The name it was uploaded under (shown, never used to decide anything).
        pub file_name: String,
        pub size_bytes: i64,
        pub width: Option<i32>,
        pub height: Option<i32>,
        pub duration_secs: Option<f64>,
        pub codec: Option<String>,
        pub storage_key: String,
        pub thumbnail_key: Option<String>,
        /// The animation that made this video, if one did.
        pub animation_id: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod animation {
    use sea_orm::entity::prelude::*;

    use super::{AnimationProvider, AnimationStatus};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "animations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub memorial_id: String,
        pub photo_id: String,
        pub provider: AnimationProvider,
        pub status: AnimationStatus,
        #[sea_orm(column_type = "Text")]
        pub script: String,
        pub voice_id: Option<String>,
        /// The provider's id of the talk or video.
        pub remote_id: Option<String>,
        /// The provider's link to the finished video, while it is copied.
        #[sea_orm(column_type = "Text", nullable)]
        pub remote_video_url: Option<String>,
        pub result_media_id: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
        /// The sequence of the latest step.
        pub sequence: i64,
        /// When the provider has had long enough.
        pub deadline_at: Option<DateTimeUtc>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod animation_step {
    use sea_orm::entity::prelude::*;

    use super::AnimationStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "animation_steps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub animation_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub status: AnimationStatus,
        /// What happened, for a person.
        #[sea_orm(column_type = "Text")]
        pub detail: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
