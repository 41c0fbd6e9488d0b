//! The agents domain's tables.

pub mod agent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "agents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub name: String,
        /// None: the server's LLM_MODEL.
        pub model: Option<String>,
        /// Sealed; None: the server's own key.
        #[sea_orm(column_type = "Text", nullable)]
        pub api_key: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub base_url: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub system_prompt: String,
        pub is_active: bool,
        /// `AgentSettings` as JSON.
        #[sea_orm(column_type = "Text")]
        pub settings: String,
        pub event_sequence: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod agent_event {
    use sea_orm::entity::prelude::*;

    use crate::agents::events::AgentEventKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub agent_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub org_id: String,
        pub kind: AgentEventKind,
        pub conversation_id: Option<String>,
        pub integration_id: Option<String>,
        /// What happened, for a person: "sentiment -0.81 under -0.5", "manual mode on by ann".
        #[sea_orm(column_type = "Text")]
        pub detail: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
