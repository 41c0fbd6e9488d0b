//! A bot's two timelines, as `events::follow` reads them: its status changes and its
//! transcript. GraphQL's subscriptions and the Vexa-compatible `/ws` both follow these.

use async_trait::async_trait;

use super::events::{status_topic, transcript_topic, BotStatusChange, TranscriptSegment};
use super::store;
use crate::error::AppResult;
use crate::events::Timeline;
use crate::services::Services;

pub(super) struct StatusTimeline {
    services: Services,
    bot_id: String,
}

impl StatusTimeline {
    pub(super) fn new(services: &Services, bot_id: String) -> Self {
        Self {
            services: services.clone(),
            bot_id,
        }
    }
}

#[async_trait]
impl Timeline for StatusTimeline {
    type Item = BotStatusChange;

    fn topic(&self) -> String {
        status_topic(&self.bot_id)
    }

    async fn snapshot(&self) -> AppResult<Vec<BotStatusChange>> {
        Ok(store::latest_change(&self.services.db, &self.bot_id)
            .await?
            .into_iter()
            .collect())
    }

    async fn after(&self, sequence: i64) -> AppResult<Vec<BotStatusChange>> {
        store::history(&self.services.db, &self.bot_id, sequence).await
    }

    fn is_final(&self, item: &BotStatusChange) -> bool {
        item.status.is_final()
    }
}

pub(super) struct TranscriptTimeline {
    services: Services,
    bot_id: String,
}

impl TranscriptTimeline {
    pub(super) fn new(services: &Services, bot_id: String) -> Self {
        Self {
            services: services.clone(),
            bot_id,
        }
    }
}

#[async_trait]
impl Timeline for TranscriptTimeline {
    type Item = TranscriptSegment;

    fn topic(&self) -> String {
        transcript_topic(&self.bot_id)
    }

    async fn snapshot(&self) -> AppResult<Vec<TranscriptSegment>> {
        store::transcript(&self.services.db, &self.bot_id, 0).await
    }

    async fn after(&self, sequence: i64) -> AppResult<Vec<TranscriptSegment>> {
        store::transcript(&self.services.db, &self.bot_id, sequence).await
    }

    /// The bot's status changes say when the transcript is complete.
    fn completion_topic(&self) -> Option<String> {
        Some(status_topic(&self.bot_id))
    }

    async fn is_complete(&self) -> AppResult<bool> {
        store::transcript_is_complete(&self.services.db, &self.bot_id).await
    }
}
