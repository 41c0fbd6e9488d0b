//! The bot status machine: forward only (skipping allowed), any non-final state may fail,
//! DONE and ERROR are final.

use sea_orm::{DeriveActiveEnum, EnumIter};

// Stored under the seed's lower-case names (also the REST API's).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    async_graphql::Enum,
    serde::Serialize,
    serde::Deserialize,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum BotStatus {
    Initialized,
    Connecting,
    AwaitingAdmission,
    Connected,
    Transcribing,
    AnalyzingMeeting,
    CreatingTasks,
    Done,
    Error,
}

impl BotStatus {
    pub const ALL: [BotStatus; 9] = [
        BotStatus::Initialized,
        BotStatus::Connecting,
        BotStatus::AwaitingAdmission,
        BotStatus::Connected,
        BotStatus::Transcribing,
        BotStatus::AnalyzingMeeting,
        BotStatus::CreatingTasks,
        BotStatus::Done,
        BotStatus::Error,
    ];

    /// The states the bot service owns and the sync keeps current.
    pub const SYNCED: [BotStatus; 4] = [
        BotStatus::Initialized,
        BotStatus::Connecting,
        BotStatus::AwaitingAdmission,
        BotStatus::Connected,
    ];

    /// The seed's lower-case name, used in the database and the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            BotStatus::Initialized => "initialized",
            BotStatus::Connecting => "connecting",
            BotStatus::AwaitingAdmission => "awaiting_admission",
            BotStatus::Connected => "connected",
            BotStatus::Transcribing => "transcribing",
            BotStatus::AnalyzingMeeting => "analyzing_meeting",
            BotStatus::CreatingTasks => "creating_tasks",
            BotStatus::Done => "done",
            BotStatus::Error => "error",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, BotStatus::Done | BotStatus::Error)
    }

    /// Whether the machine allows `self → next`. Staying put is not a transition.
    pub fn can_become(self, next: BotStatus) -> bool {
        !self.is_final() && (next == BotStatus::Error || next > self)
    }
}

/// Who changed a status: kept in the history.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    async_graphql::Enum,
    serde::Serialize,
    serde::Deserialize,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum ChangeSource {
    /// The periodic status sync with the bot service.
    Sync,
    /// A push from the bot service (webhook or callback).
    Webhook,
    /// Our transcription / analysis / task pipeline.
    Pipeline,
    /// A person (trigger, stop).
    User,
    /// Housekeeping: timeouts.
    System,
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Sync => "sync",
            ChangeSource::Webhook => "webhook",
            ChangeSource::Pipeline => "pipeline",
            ChangeSource::User => "user",
            ChangeSource::System => "system",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BotStatus::*;

    #[test]
    fn statuses_move_forward_and_may_skip() {
        assert!(Initialized.can_become(Connecting));
        assert!(Initialized.can_become(Connected));
        assert!(Connected.can_become(Transcribing));
        assert!(CreatingTasks.can_become(Done));
    }

    #[test]
    fn statuses_never_go_back_or_stand_still() {
        assert!(!Connected.can_become(Connecting));
        assert!(!Transcribing.can_become(Initialized));
        assert!(!Connected.can_become(Connected));
    }

    #[test]
    fn any_non_final_state_may_fail_and_final_states_are_final() {
        for status in super::BotStatus::ALL.into_iter().filter(|s| !s.is_final()) {
            assert!(status.can_become(Error), "{status:?}");
        }
        assert!(!Done.can_become(Error));
        assert!(!Error.can_become(Done));
        assert!(!Error.can_become(Error));
    }

    #[test]
    fn storage_names_are_the_seeds_lower_case_names() {
        use sea_orm::ActiveEnum;
        for status in super::BotStatus::ALL {
            assert_eq!(status.to_value(), status.as_str());
            assert_eq!(
                super::BotStatus::try_from_value(&status.to_value()).unwrap(),
                status
            );
        }
        assert_eq!(AwaitingAdmission.as_str(), "awaiting_admission");
        assert!(super::BotStatus::try_from_value(&"joining".to_string()).is_err());
    }
}
