//! The webhooks domain's tables: the endpoints integrators registered, the events recorded
//! for them, and one delivery per (endpoint, event).

use async_graphql::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};

/// What happened, as an integrator subscribes to it (`bot.status_changed`, …).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Enum,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[graphql(name = "WebhookEventType")]
pub enum EventType {
    #[sea_orm(string_value = "bot.status_changed")]
    #[serde(rename = "bot.status_changed")]
    BotStatusChanged,
    #[sea_orm(string_value = "meeting.completed")]
    #[serde(rename = "meeting.completed")]
    MeetingCompleted,
    #[sea_orm(string_value = "meeting.failed")]
    #[serde(rename = "meeting.failed")]
    MeetingFailed,
    #[sea_orm(string_value = "message.created")]
    #[serde(rename = "message.created")]
    MessageCreated,
    #[sea_orm(string_value = "conversation.escalated")]
    #[serde(rename = "conversation.escalated")]
    ConversationEscalated,
    #[sea_orm(string_value = "broadcast.completed")]
    #[serde(rename = "broadcast.completed")]
    BroadcastCompleted,
    #[sea_orm(string_value = "animation.completed")]
    #[serde(rename = "animation.completed")]
    AnimationCompleted,
    /// One of the organisation's endpoints failed for too long and was disabled.
    #[sea_orm(string_value = "webhook_endpoint.disabled")]
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled,
}

impl EventType {
    /// Its name on the wire (`type` in a delivery's body).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BotStatusChanged => "bot.status_changed",
            Self::MeetingCompleted => "meeting.completed",
            Self::MeetingFailed => "meeting.failed",
            Self::MessageCreated => "message.created",
            Self::ConversationEscalated => "conversation.escalated",
            Self::BroadcastCompleted => "broadcast.completed",
            Self::AnimationCompleted => "animation.completed",
            Self::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        }
    }
}

/// Where one delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "Text",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[graphql(name = "WebhookDeliveryStatus")]
pub enum DeliveryStatus {
    /// Not yet delivered: waiting for its turn, its first attempt or a retry.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: a permanent refusal, the retries spent, or the endpoint disabled.
    Failed,
}

pub mod endpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        #[sea_orm(column_type = "Text")]
        pub url: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        /// The subscribed event types, a JSON array of their names.
        #[sea_orm(column_type = "Text")]
        pub event_types: String,
        pub enabled: bool,
        /// The signing secret, sealed.
        #[sea_orm(column_type = "Text")]
        pub secret: String,
        /// The secret before the last rotation, sealed, signing alongside until it expires.
        #[sea_orm(column_type = "Text", nullable)]
        pub previous_secret: Option<String>,
        pub previous_secret_expires_at: Option<DateTimeUtc>,
        /// Since when every attempt has failed; cleared by a success.
        pub failing_since: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text", nullable)]
        pub disabled_reason: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod event {
    use sea_orm::entity::prelude::*;

    use super::EventType;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_events")]
    pub struct Model {
        /// The `webhook-id` of every delivery of it, retries and redeliveries included.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub event_type: EventType,
        /// The `data` of its body, JSON.
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        /// Events with the same key (one bot's statuses) reach an endpoint in `sequence` order.
        pub ordering_key: Option<String>,
        pub sequence: Option<i64>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod delivery {
    use sea_orm::entity::prelude::*;

    use super::DeliveryStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub endpoint_id: String,
        pub event_id: String,
        pub status: DeliveryStatus,
        /// Attempts in the current round.
        pub attempts: i32,
        /// 0, then +1 with every redelivery; a job of an earlier round does nothing.
        pub round: i32,
        /// The event's, copied so that the order is read from this table alone.
        pub ordering_key: Option<String>,
        pub sequence: Option<i64>,
        pub next_attempt_at: Option<DateTimeUtc>,
        pub last_attempt_at: Option<DateTimeUtc>,
        pub last_status_code: Option<i32>,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        /// The start of the endpoint's last answer (at most 1 KiB).
        #[sea_orm(column_type = "Text", nullable)]
        pub response_excerpt: Option<String>,
        pub delivered_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
