//! What `agentEvents` subscribers receive: each event is stored with the agent's next
//! sequence in the transaction that makes it, then published, so a subscriber that missed
//! one reads it back.

use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

use super::entity::agent_event;
use crate::events::Event;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum AgentEventKind {
    /// A customer's message scored under the agent's negative threshold.
    NegativeSentiment,
    /// A very negative message turned the conversation over to a person.
    Escalated,
    /// A person took the conversation over, or gave it back to the agent.
    ManualModeChanged,
    /// A manager noted something on a conversation.
    NoteAdded,
    /// A customer wrote while the conversation is in manual mode: a person should answer.
    AwaitingManager,
    /// The agent could not reply (the LLM or the channel failed after its retries).
    ReplyFailed,
    /// An integration of the agent connected, disconnected or failed.
    IntegrationState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
pub struct AgentEvent {
    pub agent_id: ID,
    /// 1 for the agent's first event, then +1 with each.
    pub sequence: i64,
    pub kind: AgentEventKind,
    pub conversation_id: Option<ID>,
    pub integration_id: Option<ID>,
    pub detail: String,
    pub at: DateTime<Utc>,
}

impl From<agent_event::Model> for AgentEvent {
    fn from(row: agent_event::Model) -> Self {
        Self {
            agent_id: ID(row.agent_id),
            sequence: row.sequence,
            kind: row.kind,
            conversation_id: row.conversation_id.map(ID),
            integration_id: row.integration_id.map(ID),
            detail: row.detail,
            at: row.at,
        }
    }
}

pub fn topic(agent_id: &str) -> String {
    format!("agent:{agent_id}")
}

impl Event for AgentEvent {
    fn topic(&self) -> String {
        topic(&self.agent_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}
