//! Agents in the GraphQL API: thin resolvers over `service` and `store`.

use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription, ID};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::events::{topic, AgentEvent};
use super::service::{self, AgentChange, NewAgent};
use super::settings::{AgentSettings, SettingsChange};
use super::store::{self, Agent as AgentRow};
use crate::error::AppResult;
use crate::events::Timeline;
use crate::graphql::context::ContextExt;
use crate::graphql::fanout::follow_live;
use crate::services::Services;

#[derive(SimpleObject)]
pub struct Agent {
    pub id: ID,
    pub name: String,
    /// None: the server's default model.
    pub model: Option<String>,
    /// Whether the agent has an LLM key of its own (the key itself is never answered).
    pub has_api_key: bool,
    pub base_url: Option<String>,
    pub system_prompt: String,
    pub is_active: bool,
    pub settings: AgentSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set once deleted: a deleted agent answers nobody, its conversations stay readable.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<AgentRow> for Agent {
    type Error = crate::error::AppError;

    fn try_from(row: AgentRow) -> AppResult<Self> {
        Ok(Self {
            settings: row.settings()?,
            has_api_key: row.api_key.is_some(),
            id: ID(row.id),
            name: row.name,
            model: row.model,
            base_url: row.base_url,
            system_prompt: row.system_prompt,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
    }
}

fn agent(row: AppResult<AgentRow>) -> async_graphql::Result<Agent> {
    Ok(Agent::try_from(row?)?)
}

#[derive(InputObject)]
pub struct CreateAgentInput {
    pub name: String,
    pub model: Option<String>,
    /// Write-only; leave out to use the server's OPENAI_API_KEY.
    #[graphql(secret)]
    pub api_key: Option<String>,
    /// Any OpenAI-compatible server (Ollama, vLLM, …); leave out for the server's.
    pub base_url: Option<String>,
    pub system_prompt: String,
    #[graphql(default = true)]
    pub is_active: bool,
    pub settings: Option<SettingsChange>,
}

#[derive(InputObject)]
pub struct UpdateAgentInput {
    pub name: Option<String>,
    /// An empty string goes back to the server's default model.
    pub model: Option<String>,
    /// Write-only; an empty string removes the agent's own key.
    #[graphql(secret)]
    pub api_key: Option<String>,
    /// An empty string goes back to the server's LLM.
    pub base_url: Option<String>,
    pub system_prompt: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Default)]
pub struct AgentsQuery;

#[Object]
impl AgentsQuery {
    /// The organisation's agents, oldest first (deleted ones left out).
    async fn agents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Agent>> {
        store::list(ctx.db(), ctx.viewer()?)
            .await?
            .into_iter()
            .map(|row| agent(Ok(row)))
            .collect()
    }

    async fn agent(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Agent> {
        agent(store::get(ctx.db(), ctx.viewer()?, &id).await)
    }
}

#[derive(Default)]
pub struct AgentsMutation;

#[Object]
impl AgentsMutation {
    async fn create_agent(
        &self,
        ctx: &Context<'_>,
        input: CreateAgentInput,
    ) -> async_graphql::Result<Agent> {
        let input = NewAgent {
            name: input.name,
            model: input.model,
            api_key: input.api_key,
            base_url: input.base_url,
            system_prompt: input.system_prompt,
            is_active: input.is_active,
            settings: input.settings,
        };
        agent(service::create(ctx.services(), ctx.viewer()?, input).await)
    }

    async fn update_agent(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAgentInput,
    ) -> async_graphql::Result<Agent> {
        let change = AgentChange {
            name: input.name,
            model: input.model,
            api_key: input.api_key,
            base_url: input.base_url,
            system_prompt: input.system_prompt,
            is_active: input.is_active,
        };
        agent(service::update(ctx.services(), ctx.viewer()?, &id, change).await)
    }

    /// Replaces the settings sections given; the others stay as they are.
    async fn update_agent_settings(
        &self,
        ctx: &Context<'_>,
        id: ID,
        settings: SettingsChange,
    ) -> async_graphql::Result<Agent> {
        agent(service::update_settings(ctx.services(), ctx.viewer()?, &id, settings).await)
    }

    /// Soft: the agent stops answering; its conversations stay readable.
    async fn delete_agent(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Agent> {
        agent(service::delete(ctx.services(), ctx.viewer()?, &id).await)
    }
}

struct EventTimeline {
    services: Services,
    agent_id: String,
}

#[async_trait]
impl Timeline for EventTimeline {
    type Item = AgentEvent;

    fn topic(&self) -> String {
        topic(&self.agent_id)
    }

    /// Events are news, not state: a new subscriber starts from the next one.
    async fn snapshot(&self) -> AppResult<Vec<AgentEvent>> {
        Ok(Vec::new())
    }

    async fn after(&self, sequence: i64) -> AppResult<Vec<AgentEvent>> {
        store::events_after(&self.services.db, &self.agent_id, sequence).await
    }
}

#[derive(Default)]
pub struct AgentsSubscription;

#[Subscription]
impl AgentsSubscription {
    /// The agent's alerts, escalations, manual-mode changes and integration changes, each
    /// once and in order. Reconnecting with `after: <last sequence seen>` delivers what was
    /// missed.
    async fn agent_events(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
        after: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AgentEvent>>> {
        let agent = store::get(ctx.db(), ctx.viewer()?, &agent_id).await?;
        let after = Some(
            after
                .unwrap_or(agent.event_sequence)
                .min(agent.event_sequence),
        );
        let timeline = EventTimeline {
            services: ctx.services().clone(),
            agent_id: agent.id,
        };
        Ok(follow_live(ctx, timeline, after))
    }
}
