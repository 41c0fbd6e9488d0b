//! Conversations in the GraphQL API: thin resolvers over `store` and `service`.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ComplexObject, Context, Object, SimpleObject, Subscription, ID};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::{EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{message, MessageRole};
use super::events::{topic, Message};
use super::lifecycle::Conversation as ConversationRow;
use super::store::{self, ConversationFilter};
use super::{export, livechat, service};
use crate::error::AppResult;
use crate::events::Timeline;
use crate::graphql::context::ContextExt;
use crate::graphql::fanout::{check_after, follow_live};
use crate::graphql::pagination;
use crate::services::Services;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Conversation {
    pub id: ID,
    pub agent_id: ID,
    pub integration_id: ID,
    /// telegram, whatsapp, instagram or sandbox.
    pub channel: String,
    pub remote_user_id: String,
    pub remote_user_name: Option<String>,
    /// A person answers instead of the agent.
    pub manual_mode: bool,
    pub last_role: Option<MessageRole>,
    pub last_message_at: DateTime<Utc>,
    /// The sequence of the latest change; pass it as `after` to `conversationMessages`.
    pub last_sequence: i64,
    /// Why the agent's last answer failed, if it did.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Self {
        Self {
            id: ID(row.id),
            agent_id: ID(row.agent_id),
            integration_id: ID(row.integration_id),
            channel: row.channel,
            remote_user_id: row.remote_user_id,
            remote_user_name: row.remote_user_name,
            manual_mode: row.manual_mode,
            last_role: row.last_role,
            last_message_at: row.last_message_at,
            last_sequence: row.last_sequence,
            failure: row.failure,
            created_at: row.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct ConversationNote {
    pub id: ID,
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl From<livechat::Note> for ConversationNote {
    fn from(note: livechat::Note) -> Self {
        Self {
            id: ID(note.id),
            author: note.author,
            text: note.text,
            created_at: note.created_at,
        }
    }
}

#[ComplexObject]
impl Conversation {
    /// Managers' notes, oldest first.
    async fn notes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ConversationNote>> {
        Ok(livechat::notes(ctx.services(), &self.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A link to the conversation as CSV that works without a token for five minutes.
    async fn export_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(export::signed_link(ctx.services(), ctx.viewer()?, &self.id).await?)
    }

    /// The messages in their order, `first` after position `after`.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        #[graphql(default = 0)] after: i64,
    ) -> async_graphql::Result<Connection<i64, Message, EmptyFields, EmptyFields>> {
        let page =
            store::messages(ctx.db(), &self.id, after, pagination::page_size(first)?).await?;
        let mut connection = Connection::new(after > 0, page.has_next);
        for row in page.items {
            connection
                .edges
                .push(Edge::new(row.position, Message::from(row)));
        }
        Ok(connection)
    }
}

#[derive(SimpleObject)]
pub struct ChannelCount {
    pub channel: String,
    pub messages: u64,
}

#[derive(SimpleObject)]
pub struct DashboardStats {
    /// Messages of the organisation since midnight UTC.
    pub messages_today: u64,
    pub conversations: u64,
    pub active_agents: u64,
    pub by_channel: Vec<ChannelCount>,
    /// Messages since midnight UTC in each hour (UTC) of the day: 24 counts, from 00:00.
    pub by_hour: Vec<u64>,
}

#[derive(Default)]
pub struct ConversationsQuery;

#[Object]
impl ConversationsQuery {
    /// The organisation's conversations, most recently active first.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        agent_id: Option<ID>,
        channel: Option<String>,
        manual_mode: Option<bool>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Conversation, EmptyFields, EmptyFields>> {
        let viewer = ctx.viewer()?;
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let filter = ConversationFilter {
            agent_id: agent_id.map(|id| id.to_string()),
            channel,
            manual_mode,
        };
        let has_previous = after.is_some();
        let page = store::list(ctx.db(), viewer, filter, after, first).await?;
        Ok(page.connection(has_previous, |row| {
            pagination::encode(row.last_message_at, &row.id)
        }))
    }

    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Conversation> {
        Ok(store::get(ctx.db(), ctx.viewer()?, &id).await?.into())
    }

    async fn dashboard_stats(&self, ctx: &Context<'_>) -> async_graphql::Result<DashboardStats> {
        let viewer = ctx.viewer()?;
        let s = ctx.services();
        let today = s
            .clock
            .now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let stats = store::stats(&s.db, &viewer.org_id, today).await?;
        Ok(DashboardStats {
            messages_today: stats.messages_today,
            conversations: stats.conversations,
            active_agents: crate::agents::active_count(&s.db, &viewer.org_id).await?,
            by_channel: stats
                .by_channel
                .into_iter()
                .map(|(channel, messages)| ChannelCount { channel, messages })
                .collect(),
            by_hour: stats.by_hour,
        })
    }
}

#[derive(Default)]
pub struct ConversationsMutation;

#[Object]
impl ConversationsMutation {
    /// Manual mode: the agent stops answering; a person does.
    async fn take_over_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Conversation> {
        Ok(
            livechat::set_manual(ctx.services(), ctx.viewer()?, &id, true)
                .await?
                .into(),
        )
    }

    /// The agent answers again.
    async fn release_conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Conversation> {
        Ok(
            livechat::set_manual(ctx.services(), ctx.viewer()?, &id, false)
                .await?
                .into(),
        )
    }

    async fn add_conversation_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
        text: String,
    ) -> async_graphql::Result<ConversationNote> {
        Ok(
            livechat::add_note(ctx.services(), ctx.viewer()?, &id, &text)
                .await?
                .into(),
        )
    }

    /// Sends `text` to the customer as the signed-in manager; answers the message as it
    /// stands after the attempt (SENT, or FAILED saying why).
    async fn send_manager_message(
        &self,
        ctx: &Context<'_>,
        id: ID,
        text: String,
    ) -> async_graphql::Result<Message> {
        Ok(
            livechat::send_manager_message(ctx.services(), ctx.viewer()?, &id, &text)
                .await?
                .into(),
        )
    }

    /// Sandbox mode only: a customer (any name) writes `text` to the integration; the agent
    /// answers as it would on a real channel.
    async fn sandbox_send_customer_message(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
        customer: String,
        text: String,
    ) -> async_graphql::Result<bool> {
        service::sandbox_customer_message(
            ctx.services(),
            ctx.viewer()?,
            &integration_id,
            &customer,
            &text,
        )
        .await?;
        Ok(true)
    }
}

/// How many recent changes a new subscriber is shown first.
const SNAPSHOT: u64 = 50;

struct MessageTimeline {
    services: Services,
    conversation_id: String,
}

#[async_trait]
impl Timeline for MessageTimeline {
    type Item = Message;

    fn topic(&self) -> String {
        topic(&self.conversation_id)
    }

    async fn snapshot(&self) -> AppResult<Vec<Message>> {
        let mut recent = message::Entity::find()
            .filter(sea_orm::ColumnTrait::eq(
                &message::Column::ConversationId,
                &self.conversation_id,
            ))
            .order_by_desc(message::Column::Sequence)
            .limit(SNAPSHOT)
            .all(&self.services.db)
            .await?;
        recent.reverse();
        Ok(recent.into_iter().map(Message::from).collect())
    }

    async fn after(&self, sequence: i64) -> AppResult<Vec<Message>> {
        store::changes_after(&self.services.db, &self.conversation_id, sequence).await
    }
}

#[derive(Default)]
pub struct ConversationsSubscription;

#[Subscription]
impl ConversationsSubscription {
    /// The conversation's latest messages, then every message stored or changed (delivery,
    /// translation), each under the conversation's next sequence. Reconnecting with
    /// `after: <last sequence seen>` delivers exactly what was missed.
    async fn conversation_messages(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Message>>> {
        let conversation = store::get(ctx.db(), ctx.viewer()?, &conversation_id).await?;
        check_after(after, conversation.last_sequence, "conversation")?;
        let timeline = MessageTimeline {
            services: ctx.services().clone(),
            conversation_id: conversation.id,
        };
        Ok(follow_live(ctx, timeline, after))
    }
}
