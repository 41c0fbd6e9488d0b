//! Table mappings for the meetings domain. Enum columns are typed, so a value that is not
//! one of theirs fails here, when it is read, and nowhere else.

pub mod bot {
    use sea_orm::entity::prelude::*;

    use crate::meetings::link::MeetingPlatform;
    use crate::meetings::status::BotStatus;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "meeting_bots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub user_id: String,
        #[sea_orm(column_type = "Text")]
        pub meet_url: String,
        pub platform: MeetingPlatform,
        pub native_meeting_id: String,
        pub bot_name: String,
        pub status: BotStatus,
        pub sequence: i64,
        pub external_bot_id: Option<String>,
        pub session_id: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub error_message: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub result_data: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub audio_url: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub summary: Option<String>,
        pub idempotency_key: Option<String>,
        pub active_key: Option<String>,
        /// When the bot service first said the meeting was over, while the recording it
        /// hands over by callback had not come yet.
        pub remote_ended_at: Option<DateTimeUtc>,
        pub status_changed_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod status_change {
    use sea_orm::entity::prelude::*;

    use crate::meetings::status::{BotStatus, ChangeSource};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bot_status_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub bot_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub status: BotStatus,
        pub source: ChangeSource,
        #[sea_orm(column_type = "Text", nullable)]
        pub reason: Option<String>,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod segment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "transcript_segments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub bot_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub start_secs: f64,
        pub end_secs: f64,
        pub speaker: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub text: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "meeting_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub bot_id: String,
        pub position: i32,
        #[sea_orm(column_type = "Text")]
        pub title: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub assignee: Option<String>,
        pub jira_key: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub jira_url: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
        pub created_at: DateTimeUtc,
        /// When the task last went to Jira in a request whose answer may not have been stored.
        pub jira_requested_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
