//! Broadcasts in the GraphQL API: thin resolvers over `store`, `service` and `lifecycle`.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, Subscription, ID};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::entity::{BroadcastStatus, RecipientStatus};
use super::events::{topic, BroadcastProgress};
use super::lifecycle;
use super::service::{self, NewBroadcast, Via};
use super::store::{self, Broadcast as BroadcastRow, Recipient};
use crate::error::AppResult;
use crate::events::Timeline;
use crate::graphql::context::ContextExt;
use crate::graphql::fanout::{check_after, follow_live};
use crate::graphql::pagination;
use crate::services::Services;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Broadcast {
    pub id: ID,
    pub agent_id: ID,
    pub integration_id: ID,
    /// telegram, whatsapp, instagram or sandbox.
    pub channel: String,
    pub message: String,
    pub status: BroadcastStatus,
    /// Recipients after de-duplication.
    pub total: i64,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    pub created_by: String,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest change's sequence; pass it as `after` to `broadcastProgress`.
    pub sequence: i64,
    #[graphql(skip)]
    row: BroadcastRow,
}

impl From<BroadcastRow> for Broadcast {
    fn from(row: BroadcastRow) -> Self {
        Self {
            id: ID(row.id.clone()),
            agent_id: ID(row.agent_id.clone()),
            integration_id: ID(row.integration_id.clone()),
            channel: row.channel.clone(),
            message: row.message.clone(),
            status: row.status,
            total: row.total,
            failure: row.failure.clone(),
            created_by: row.created_by.clone(),
            scheduled_at: row.scheduled_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            sequence: row.sequence,
            row,
        }
    }
}

#[derive(SimpleObject)]
pub struct BroadcastRecipient {
    /// Its place in the request (after de-duplication), from 0.
    pub position: i64,
    /// As the channel takes it: a chat id, E.164 digits, an Instagram-scoped id.
    pub recipient: String,
    pub status: RecipientStatus,
    pub attempts: i32,
    /// The channel's last refusal.
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<Recipient> for BroadcastRecipient {
    fn from(row: Recipient) -> Self {
        Self {
            position: row.position,
            recipient: row.recipient,
            status: row.status,
            attempts: row.attempts,
            error: row.error,
            sent_at: row.sent_at,
        }
    }
}

#[ComplexObject]
impl Broadcast {
    /// Counts per recipient status, the rate and the ETA, read now.
    async fn progress(&self, ctx: &Context<'_>) -> async_graphql::Result<BroadcastProgress> {
        Ok(lifecycle::progress(ctx.services(), &self.row).await?)
    }

    /// The recipients in their order (of one status, when given), `first` after position
    /// `after`.
    async fn recipients(
        &self,
        ctx: &Context<'_>,
        status: Option<RecipientStatus>,
        #[graphql(default = 50)] first: i32,
        after: Option<i64>,
    ) -> async_graphql::Result<Connection<i64, BroadcastRecipient, EmptyFields, EmptyFields>> {
        let first = pagination::page_size(first)?;
        let page = store::recipients(ctx.db(), &self.row.id, status, after, first).await?;
        let mut connection = Connection::new(after.is_some(), page.has_next);
        for row in page.items {
            connection.edges.push(Edge::new(row.position, row.into()));
        }
        Ok(connection)
    }
}

#[derive(InputObject)]
pub struct CreateBroadcastInput {
    pub agent_id: ID,
    /// One of the agent's integrations; its channel decides what a recipient looks like.
    pub integration_id: ID,
    pub message: String,
    /// Up to 100,000: Telegram chat ids, WhatsApp numbers (E.164), Instagram-scoped ids.
    /// Repeats are sent to once.
    pub recipients: Vec<String>,
    /// Later than now: SCHEDULED until then; otherwise sending starts at once.
    pub scheduled_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct BroadcastsQuery;

#[Object]
impl BroadcastsQuery {
    /// The agent's broadcasts, newest first.
    async fn broadcasts(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Broadcast, EmptyFields, EmptyFields>> {
        let viewer = ctx.viewer()?;
        let agent = crate::agents::get(ctx.db(), viewer, &agent_id).await?;
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let has_previous = after.is_some();
        let page = store::list(ctx.db(), viewer, &agent.id, after, first).await?;
        Ok(page.connection(has_previous, |row| {
            pagination::encode(row.created_at, &row.id)
        }))
    }

    async fn broadcast(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Broadcast> {
        Ok(store::get(ctx.db(), ctx.viewer()?, &id).await?.into())
    }
}

#[derive(Default)]
pub struct BroadcastsMutation;

#[Object]
impl BroadcastsMutation {
    /// Sends `message` to every recipient through the integration, within its rate limit.
    async fn create_broadcast(
        &self,
        ctx: &Context<'_>,
        input: CreateBroadcastInput,
    ) -> async_graphql::Result<Broadcast> {
        let input = NewBroadcast {
            agent_id: input.agent_id.to_string(),
            via: Via::Integration(input.integration_id.to_string()),
            message: input.message,
            recipients: input.recipients,
            scheduled_at: input.scheduled_at,
        };
        Ok(service::create(ctx.services(), ctx.viewer()?, input)
            .await?
            .into())
    }

    /// Stops sending within a second; what was not sent stays PENDING.
    async fn cancel_broadcast(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Broadcast> {
        Ok(service::cancel(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }
}

struct ProgressTimeline {
    services: Services,
    broadcast_id: String,
}

#[async_trait]
impl Timeline for ProgressTimeline {
    type Item = BroadcastProgress;

    fn topic(&self) -> String {
        topic(&self.broadcast_id)
    }

    async fn snapshot(&self) -> AppResult<Vec<BroadcastProgress>> {
        let broadcast = store::load(&self.services.db, &self.broadcast_id).await?;
        Ok(vec![lifecycle::progress(&self.services, &broadcast).await?])
    }

    /// Progress is a state: what was missed is the latest.
    async fn after(&self, sequence: i64) -> AppResult<Vec<BroadcastProgress>> {
        let latest = self.snapshot().await?;
        Ok(latest
            .into_iter()
            .filter(|progress| progress.sequence > sequence)
            .collect())
    }

    fn is_final(&self, item: &BroadcastProgress) -> bool {
        item.status.is_final()
    }
}

#[derive(Default)]
pub struct BroadcastsSubscription;

#[Subscription]
impl BroadcastsSubscription {
    /// Where the broadcast stands now, then every status change and, while it sends, a
    /// report a few times a second; it ends after the final status. Reconnecting with
    /// `after: <last sequence seen>` delivers the latest if anything changed since.
    async fn broadcast_progress(
        &self,
        ctx: &Context<'_>,
        broadcast_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<BroadcastProgress>>> {
        let broadcast = store::get(ctx.db(), ctx.viewer()?, &broadcast_id).await?;
        check_after(after, broadcast.sequence, "broadcast")?;
        let timeline = ProgressTimeline {
            services: ctx.services().clone(),
            broadcast_id: broadcast.id,
        };
        Ok(follow_live(ctx, timeline, after))
    }
}
