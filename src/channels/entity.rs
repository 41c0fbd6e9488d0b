//! The integrations table: one account on one channel, bound to one agent. Enum columns are
//! typed, so a value that is not one of theirs fails here, when it is read.

use async_graphql::Enum;
use sea_orm::{DeriveActiveEnum, EnumIter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum IntegrationKind {
    /// A Telegram bot.
    Telegram,
    /// A WhatsApp Business number on Meta's Cloud API.
    WhatsappCloud,
    /// An Instagram professional account.
    Instagram,
    /// A simulated account: nothing leaves this machine.
    Sandbox,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Telegram => "telegram",
            IntegrationKind::WhatsappCloud => "whatsapp_cloud",
            IntegrationKind::Instagram => "instagram",
            IntegrationKind::Sandbox => "sandbox",
        }
    }

    /// The channel's name as conversations and the seeds' APIs say it.
    pub fn channel(self) -> &'static str {
        match self {
            IntegrationKind::Telegram => "telegram",
            IntegrationKind::WhatsappCloud => "whatsapp",
            IntegrationKind::Instagram => "instagram",
            IntegrationKind::Sandbox => "sandbox",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum IntegrationState {
    /// Claimed its account, and is registering with the channel.
    Connecting,
    /// Receiving and sending.
    Connected,
    /// Switched off by a person; holds no claim on its account.
    Disconnected,
    /// Should be connected, but the channel refused it (a revoked token, say): see its
    /// reason. It keeps its account until it is disconnected.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum ReceiveMode {
    /// The channel posts each message to our webhook.
    Webhook,
    /// We ask the channel for messages (Telegram's getUpdates), with no public URL needed.
    Polling,
    /// Nothing comes from outside.
    Sandbox,
}

pub mod integration {
    use sea_orm::entity::prelude::*;

    use super::{IntegrationKind, IntegrationState, ReceiveMode};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "integrations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub agent_id: String,
        pub kind: IntegrationKind,
        pub name: String,
        /// The channel's own id of the account: the Telegram bot's id, the WhatsApp
        /// phone_number_id, the Instagram account id; the integration's id for a sandbox.
        pub identity: Option<String>,
        /// `kind:identity` unless disconnected (unique): one integration per account.
        pub active_identity: Option<String>,
        /// Sealed JSON; never answered.
        #[sea_orm(column_type = "Text")]
        pub credentials: String,
        pub mode: ReceiveMode,
        pub state: IntegrationState,
        #[sea_orm(column_type = "Text", nullable)]
        pub state_reason: Option<String>,
        /// The last Telegram update stored, for long polling.
        pub poll_offset: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
