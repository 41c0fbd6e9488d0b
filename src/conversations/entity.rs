//! The conversations domain's tables.

use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    async_graphql::Enum,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum MessageRole {
    /// The customer.
    User,
    /// The AI agent (replies, away messages, follow-ups).
    Assistant,
    /// A person of the organisation, answering in manual mode.
    Manager,
}

/// Where a message is on its way: a customer's is RECEIVED; ours go PENDING → SENDING →
/// SENT (→ DELIVERED → READ where the channel reports it), or FAILED. One whose send was
/// interrupted before the channel answered is UNKNOWN: it is never sent again blindly.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    async_graphql::Enum,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum DeliveryStatus {
    Received,
    Pending,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Unknown,
}

pub mod conversation {
    use sea_orm::entity::prelude::*;

    use super::MessageRole;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub agent_id: String,
        pub integration_id: String,
        /// telegram, whatsapp, instagram or sandbox.
        pub channel: String,
        pub remote_user_id: String,
        pub remote_user_name: Option<String>,
        pub chat_id: String,
        pub manual_mode: bool,
        pub last_sequence: i64,
        pub message_count: i64,
        pub last_role: Option<MessageRole>,
        pub last_message_at: DateTimeUtc,
        pub away_sent_on: Option<String>,
        /// Follow-ups sent since the customer last wrote; a follow-up is claimed by moving it
        /// from n - 1 to n, so two workers never send the same one.
        pub follow_ups_sent: i64,
        #[sea_orm(column_type = "Text", nullable)]
        pub failure: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod message {
    use sea_orm::entity::prelude::*;

    use super::{DeliveryStatus, MessageRole};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub conversation_id: String,
        pub org_id: String,
        pub integration_id: String,
        pub position: i64,
        pub sequence: i64,
        pub role: MessageRole,
        #[sea_orm(column_type = "Text")]
        pub text: String,
        /// The customer's own words when `text` is their translation, or the agent's when
        /// `text` was translated for the customer.
        #[sea_orm(column_type = "Text", nullable)]
        pub original_text: Option<String>,
        pub language: Option<String>,
        pub sentiment: Option<f64>,
        pub provider_message_id: Option<String>,
        pub delivery: DeliveryStatus,
        #[sea_orm(column_type = "Text", nullable)]
        pub delivery_error: Option<String>,
        pub author: Option<String>,
        pub reply_to: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversation_notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub conversation_id: String,
        pub org_id: String,
        pub author: String,
        #[sea_orm(column_type = "Text")]
        pub text: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
