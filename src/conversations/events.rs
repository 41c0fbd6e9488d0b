//! What `conversationMessages` subscribers receive: a message each time it is stored or
//! changes (its delivery moves on, its translation arrives), under the conversation's next
//! sequence, so a subscriber that missed some reads them back by sequence.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entity::{message, DeliveryStatus, MessageRole};
use crate::events::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
pub struct Message {
    pub id: ID,
    pub conversation_id: ID,
    /// Its place in the conversation, from 1.
    pub position: i64,
    /// The conversation's sequence at this message's latest change.
    pub sequence: i64,
    pub role: MessageRole,
    pub text: String,
    /// The customer's own words when `text` is their translation, or the agent's when `text`
    /// was translated for the customer.
    pub original_text: Option<String>,
    /// ISO 639-1, as detected.
    pub language: Option<String>,
    /// −1 (very negative) to 1 (very positive).
    pub sentiment: Option<f64>,
    pub delivery: DeliveryStatus,
    pub delivery_error: Option<String>,
    /// The manager who wrote it, for MANAGER messages.
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<message::Model> for Message {
    fn from(row: message::Model) -> Self {
        Self {
            id: ID(row.id),
            conversation_id: ID(row.conversation_id),
            position: row.position,
            sequence: row.sequence,
            role: row.role,
            text: row.text,
            original_text: row.original_text,
            language: row.language,
            sentiment: row.sentiment,
            delivery: row.delivery,
            delivery_error: row.delivery_error,
            author: row.author,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn topic(conversation_id: &str) -> String {
    format!("conversation:{conversation_id}")
}

impl Event for Message {
    fn topic(&self) -> String {
        topic(&self.conversation_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}
