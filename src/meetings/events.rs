//! What meeting subscribers receive. Each is stored first (history, transcript) and then
//! published, so a subscriber that missed one can read it back by sequence.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entity::{segment, status_change};
use super::status::{BotStatus, ChangeSource};
use crate::events::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
pub struct BotStatusChange {
    pub bot_id: ID,
    /// 1 for the bot's first status, then +1 with every change.
    pub sequence: i64,
    pub status: BotStatus,
    pub source: ChangeSource,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<status_change::Model> for BotStatusChange {
    fn from(row: status_change::Model) -> Self {
        Self {
            bot_id: ID(row.bot_id),
            sequence: row.sequence,
            status: row.status,
            source: row.source,
            reason: row.reason,
            at: row.at,
        }
    }
}

pub fn status_topic(bot_id: &str) -> String {
    format!("bot:{bot_id}")
}

impl Event for BotStatusChange {
    fn topic(&self) -> String {
        status_topic(&self.bot_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
pub struct TranscriptSegment {
    pub bot_id: ID,
    /// Position in the transcript, from 1.
    pub sequence: i64,
    pub start: f64,
    pub end: f64,
    pub speaker: Option<String>,
    pub text: String,
}

impl From<segment::Model> for TranscriptSegment {
    fn from(row: segment::Model) -> Self {
        Self {
            bot_id: ID(row.bot_id),
            sequence: row.sequence,
            start: row.start_secs,
            end: row.end_secs,
            speaker: row.speaker,
            text: row.text,
        }
    }
}

pub fn transcript_topic(bot_id: &str) -> String {
    format!("transcript:{bot_id}")
}

impl Event for TranscriptSegment {
    fn topic(&self) -> String {
        transcript_topic(&self.bot_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}
