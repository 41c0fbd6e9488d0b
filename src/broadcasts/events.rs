//! What `broadcastProgress` subscribers receive: the broadcast's counts, rate and ETA, sent
//! on every status change and, while it sends, a few times a second; each under the
//! broadcast's next sequence, so a subscriber that missed some reads the latest back.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entity::BroadcastStatus;
use crate::events::Event;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, SimpleObject)]
pub struct RecipientCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
pub struct BroadcastProgress {
    pub broadcast_id: ID,
    /// The broadcast's sequence at this report; pass it as `after` when reconnecting.
    pub sequence: i64,
    pub status: BroadcastStatus,
    pub total: i64,
    pub counts: RecipientCounts,
    /// Messages sent per second since sending started.
    pub rate: f64,
    /// Seconds until the rest is sent at that rate, while it sends.
    pub eta_seconds: Option<f64>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    pub at: DateTime<Utc>,
}

pub fn topic(broadcast_id: &str) -> String {
    format!("broadcast:{broadcast_id}")
}

impl Event for BroadcastProgress {
    fn topic(&self) -> String {
        topic(&self.broadcast_id)
    }
    fn sequence(&self) -> i64 {
        self.sequence
    }
}
