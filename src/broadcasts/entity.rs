//! The broadcasts tables: a broadcast (one message from one integration), its recipients
//! each with their own status. Enum columns are typed, so a value that is not one of theirs
//! fails here, when it is read.

use async_graphql::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BroadcastStatus {
    /// Waiting for a sender to start it.
    Pending,
    /// Waiting for its `scheduledAt`.
    Scheduled,
    /// Being sent.
    Processing,
    /// Every recipient was tried; at least one was sent to.
    Completed,
    /// Nobody could be sent to (or the integration is gone).
    Failed,
    /// Stopped by a person; what was not sent stays PENDING.
    Cancelled,
}

impl BroadcastStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            BroadcastStatus::Completed | BroadcastStatus::Failed | BroadcastStatus::Cancelled
        )
    }

    /// The seed's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastStatus::Pending => "pending",
            BroadcastStatus::Scheduled => "scheduled",
            BroadcastStatus::Processing => "processing",
            BroadcastStatus::Completed => "completed",
            BroadcastStatus::Failed => "failed",
            BroadcastStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Not sent yet (or waiting to be tried again).
    Pending,
    /// Claimed by a sender, which is asking the channel now.
    Sending,
    /// The channel took it.
    Sent,
    /// The channel refused it for good, or every attempt failed: see its error.
    Failed,
    /// Claimed by a sender that stopped before the channel's answer was recorded: it may or
    /// may not have arrived, and it is not sent again.
    Unknown,
}

pub mod broadcast {
    use sea_orm::entity::prelude::*;

    use super::BroadcastStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "broadcasts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub agent_id: String,
        pub integration_id: String,
        /// telegram, whatsapp, instagram or sandbox.
        pub channel: String,
        #[sea_orm(column_type = "Text")]
        pub message: String,
        pub status: BroadcastStatus,
        pub total: i64,
        pub sequence: i64,
        #[sea_orm(column_type = "Text", nullable)]
        pub failure: Option<String>,
        pub created_by: String,
        pub scheduled_at: Option<DateTimeUtc>,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recipient {
    use sea_orm::entity::prelude::*;

    use super::RecipientStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "broadcast_recipients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub broadcast_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i64,
        pub recipient: String,
        pub status: RecipientStatus,
        pub attempts: i32,
        /// Milliseconds on the server's clock before which it is not tried again.
        pub next_attempt_at: i64,
        pub claimed_by: Option<String>,
        /// System milliseconds of the claim (or its latest renewal).
        pub claimed_at: Option<i64>,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
        pub sent_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
