//! Meetings in the GraphQL API: thin resolvers that read the input, call one service or
//! store function and map the result.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::events::{BotStatusChange, TranscriptSegment};
use super::link::MeetingPlatform;
use super::service::{self, TriggerInput};
use super::status::BotStatus;
use super::store::{self, BotChildren, HistoryOf, MeetingBot as BotRow, TasksOf, TranscriptOf};
use super::timelines::{StatusTimeline, TranscriptTimeline};
use crate::graphql::context::ContextExt;
use crate::graphql::fanout::{check_after, follow_live};
use crate::graphql::pagination;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct MeetingBot {
    pub id: ID,
    pub status: BotStatus,
    pub meet_url: String,
    pub platform: MeetingPlatform,
    /// The platform's own meeting id (the Google Meet code, the Zoom number, …).
    pub native_meeting_id: String,
    pub bot_name: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub error_message: Option<String>,
    /// `{tasks_created, summary, issues: [{key, url, summary}]}` once DONE.
    pub result_data: Option<async_graphql::Json<serde_json::Value>>,
    pub summary: Option<String>,
    /// The sequence of the latest status change; pass it as `after` to `botStatus`.
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<BotRow> for MeetingBot {
    fn from(row: BotRow) -> Self {
        Self {
            status: row.status,
            platform: row.platform,
            result_data: row
                .result_data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .map(async_graphql::Json),
            id: ID(row.id),
            meet_url: row.meet_url,
            native_meeting_id: row.native_meeting_id,
            bot_name: row.bot_name,
            user_id: row.user_id,
            session_id: row.session_id,
            error_message: row.error_message,
            summary: row.summary,
            sequence: row.sequence,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct MeetingTask {
    pub id: ID,
    pub title: String,
    pub description: String,
    /// The owner named in the meeting, if any.
    pub assignee: Option<String>,
    pub jira_key: Option<String>,
    pub jira_url: Option<String>,
    /// Why Jira refused this one, if it did.
    pub error: Option<String>,
}

impl From<store::MeetingTask> for MeetingTask {
    fn from(t: store::MeetingTask) -> Self {
        Self {
            id: ID(t.id),
            title: t.title,
            description: t.description,
            assignee: t.assignee,
            jira_key: t.jira_key,
            jira_url: t.jira_url,
            error: t.error,
        }
    }
}

#[ComplexObject]
impl MeetingBot {
    /// Every status the bot has had, oldest first, with when, who and why.
    async fn status_history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BotStatusChange>> {
        Ok(ctx
            .data_unchecked::<DataLoader<BotChildren>>()
            .load_one(HistoryOf(self.id.to_string()))
            .await?
            .unwrap_or_default())
    }

    async fn transcript(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TranscriptSegment>> {
        Ok(ctx
            .data_unchecked::<DataLoader<BotChildren>>()
            .load_one(TranscriptOf(self.id.to_string()))
            .await?
            .unwrap_or_default())
    }

    async fn tasks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MeetingTask>> {
        let tasks = ctx
            .data_unchecked::<DataLoader<BotChildren>>()
            .load_one(TasksOf(self.id.to_string()))
            .await?;
        Ok(tasks
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct MeetingsQuery;

#[Object]
impl MeetingsQuery {
    async fn meeting_bot(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<MeetingBot> {
        Ok(store::get(ctx.db(), ctx.viewer()?, &id).await?.into())
    }

    /// The organisation's bots, newest first.
    async fn meeting_bots(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<BotStatus>,
    ) -> async_graphql::Result<Connection<String, MeetingBot, EmptyFields, EmptyFields>> {
        let viewer = ctx.viewer()?;
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let has_previous = after.is_some();
        let page = store::list(ctx.db(), viewer, status, after, first).await?;
        let mut connection = Connection::new(has_previous, page.has_next);
        for bot in page.bots {
            connection.edges.push(Edge::new(
                pagination::encode(bot.created_at, &bot.id),
                bot.into(),
            ));
        }
        Ok(connection)
    }
}

#[derive(InputObject)]
pub struct TriggerMeetingBotInput {
    /// A Google Meet, Zoom or Teams link.
    pub meet_url: String,
    pub bot_name: String,
    /// Send the same key again (say, after a timeout) to get the same bot, not a conflict.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct ProcessMeetingAudioInput {
    pub bot_id: ID,
    pub audio_url: String,
}

#[derive(Default)]
pub struct MeetingsMutation;

#[Object]
impl MeetingsMutation {
    /// Sends a bot into a meeting. Follow it with the `botStatus` subscription.
    async fn trigger_meeting_bot(
        &self,
        ctx: &Context<'_>,
        input: TriggerMeetingBotInput,
    ) -> async_graphql::Result<MeetingBot> {
        let input = TriggerInput {
            meet_url: input.meet_url,
            bot_name: input.bot_name,
            idempotency_key: input.idempotency_key,
        };
        Ok(service::trigger(ctx.services(), ctx.viewer()?, input)
            .await?
            .into())
    }

    /// Asks the bot to leave. A bot not yet in the meeting is DONE at once; one in it leaves
    /// and its recording still goes through the pipeline.
    async fn stop_meeting_bot(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<MeetingBot> {
        Ok(service::stop(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// Transcribes a recording, finds the action items and creates Jira issues for the bot.
    async fn process_meeting_audio(
        &self,
        ctx: &Context<'_>,
        input: ProcessMeetingAudioInput,
    ) -> async_graphql::Result<MeetingBot> {
        let viewer = ctx.viewer()?;
        let bot =
            service::process_audio(ctx.services(), viewer, &input.bot_id, &input.audio_url).await?;
        Ok(bot.into())
    }
}

#[derive(Default)]
pub struct MeetingsSubscription;

#[Subscription]
impl MeetingsSubscription {
    /// The bot's current status, then every change in order; ends after DONE or ERROR.
    /// Reconnecting with `after: <last sequence seen>` delivers exactly what was missed.
    async fn bot_status(
        &self,
        ctx: &Context<'_>,
        bot_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<BotStatusChange>>> {
        let bot = store::get(ctx.db(), ctx.viewer()?, &bot_id).await?;
        check_after(after, bot.sequence, "bot")?;
        let timeline = StatusTimeline::new(ctx.services(), bot.id);
        Ok(follow_live(ctx, timeline, after))
    }

    /// The transcript so far, then each new segment as it is stored; ends once the transcript
    /// is complete (the bot moved past TRANSCRIBING, or finished without one).
    /// Reconnecting with `after: <last sequence seen>` delivers exactly what was missed.
    async fn meeting_transcript(
        &self,
        ctx: &Context<'_>,
        bot_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TranscriptSegment>>> {
        let bot = store::get(ctx.db(), ctx.viewer()?, &bot_id).await?;
        if after.is_some() {
            let stored = store::transcript_length(ctx.db(), &bot.id).await?;
            check_after(after, stored, "transcript")?;
        }
        let timeline = TranscriptTimeline::new(ctx.services(), bot.id);
        Ok(follow_live(ctx, timeline, after))
    }
}
