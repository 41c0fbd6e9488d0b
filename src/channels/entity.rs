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
    /// A WhatsApp phone paired by QR code (or pairing code) to a session of a WAHA server.
    WhatsappDevice,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Telegram => "telegram",
            IntegrationKind::WhatsappCloud => "whatsapp_cloud",
            IntegrationKind::Instagram => "instagram",
            IntegrationKind::Sandbox => "sandbox",
            IntegrationKind::WhatsappDevice => "whatsapp_device",
        }
    }

    /// The channel's name as conversations and the seeds' APIs say it.
    pub fn channel(self) -> &'static str {
        match self {
            IntegrationKind::Telegram => "telegram",
            IntegrationKind::WhatsappCloud | IntegrationKind::WhatsappDevice => "whatsapp",
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

/// The status of a WHATSAPP_DEVICE's WAHA session, as WAHA names it; the integration's state
/// follows it (see [`SessionStatus::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum SessionStatus {
    /// Stopped on the WAHA server.
    Stopped,
    Starting,
    /// Waiting for the phone to scan the QR code (or enter the pairing code).
    ScanQrCode,
    /// Paired: receiving and sending.
    Working,
    /// Unpaired or broken: the phone must be paired again.
    Failed,
}

impl SessionStatus {
    /// WAHA's name of a status, as its webhooks and API say it.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "STOPPED" => SessionStatus::Stopped,
            "STARTING" => SessionStatus::Starting,
            "SCAN_QR_CODE" => SessionStatus::ScanQrCode,
            "WORKING" => SessionStatus::Working,
            "FAILED" => SessionStatus::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Stopped => "STOPPED",
            SessionStatus::Starting => "STARTING",
            SessionStatus::ScanQrCode => "SCAN_QR_CODE",
            SessionStatus::Working => "WORKING",
            SessionStatus::Failed => "FAILED",
        }
    }

    /// The integration's state while its session is in this status: up only while WORKING;
    /// a session stopped or failed on the WAHA server is down (it was not a person here who
    /// switched it off).
    pub fn state(self) -> IntegrationState {
        match self {
            SessionStatus::Starting | SessionStatus::ScanQrCode => IntegrationState::Connecting,
            SessionStatus::Working => IntegrationState::Connected,
            SessionStatus::Stopped | SessionStatus::Failed => IntegrationState::Failed,
        }
    }
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

    use super::{IntegrationKind, IntegrationState, ReceiveMode, SessionStatus};

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
        /// phone_number_id, the Instagram account id; the integration's id for a sandbox; a
        /// WhatsApp device's JID once paired (its WAHA session's name until then).
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
        /// A WhatsApp device's WAHA session status; none for other kinds.
        pub session_status: Option<SessionStatus>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
