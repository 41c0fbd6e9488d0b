//! The agents commands: create, change, delete, and their settings. Agents hold an LLM key,
//! so changing them is for admins; reading them is for anyone in the organisation. No
//! GraphQL here.

use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::entity::{agent, agent_event};
use super::events::{AgentEvent, AgentEventKind};
use super::settings::{AgentSettings, SettingsChange};
use super::store::{self, Agent};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::secrets::{place, Secret};
use crate::services::Services;

pub struct NewAgent {
    pub name: String,
    pub model: Option<String>,
    /// Write-only: stored sealed, never answered.
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub system_prompt: String,
    pub is_active: bool,
    pub settings: Option<SettingsChange>,
}

/// What to change; what is `None` stays as it is. `api_key: Some("")` removes the agent's
/// own key, so the server's is used again.
#[derive(Default)]
pub struct AgentChange {
    pub name: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub system_prompt: Option<String>,
    pub is_active: Option<bool>,
}

fn api_key_place(agent_id: &str) -> String {
    place("agents", "api_key", agent_id)
}

fn name(value: &str) -> AppResult<String> {
    crate::input::line("name", value, 100)
}

fn model(value: &str) -> AppResult<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    crate::input::line("model", value, 100).map(Some)
}

fn base_url(value: &str) -> AppResult<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(value.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            AppError::BadInput(
                "baseUrl must be an http(s) URL of an OpenAI-compatible server".into(),
            )
        })?;
    Ok(Some(url.to_string()))
}

fn prompt(value: &str) -> AppResult<String> {
    crate::input::text("systemPrompt", value, 20_000)
}

fn sealed_key(s: &Services, agent_id: &str, value: &str) -> AppResult<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let key = crate::input::line("apiKey", value, 500)?;
    Ok(Some(s.secrets.seal(&key, &api_key_place(agent_id))))
}

pub async fn create(s: &Services, viewer: &Viewer, input: NewAgent) -> AppResult<Agent> {
    viewer.require(Role::Admin)?;
    let id = uuid::Uuid::new_v4().to_string();
    let settings = AgentSettings::default().with(input.settings.unwrap_or_default());
    settings.validate()?;
    let now = Utc::now().trunc_subsecs(6);
    let row = agent::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(viewer.org_id.clone()),
        name: Set(name(&input.name)?),
        model: Set(input.model.as_deref().map(model).transpose()?.flatten()),
        api_key: Set(match &input.api_key {
            Some(key) => sealed_key(s, &id, key)?,
            None => None,
        }),
        base_url: Set(input
            .base_url
            .as_deref()
            .map(base_url)
            .transpose()?
            .flatten()),
        system_prompt: Set(prompt(&input.system_prompt)?),
        is_active: Set(input.is_active),
        settings: Set(settings.to_json()?),
        event_sequence: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    };
    let agent = row.insert(&s.db).await?;
    tracing::info!(agent = %agent.id, org = %agent.org_id, "agent created");
    Ok(agent)
}

/// An agent the viewer may change: of its organisation, not deleted.
async fn changeable(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Agent> {
    viewer.require(Role::Admin)?;
    let agent = store::get(&s.db, viewer, id).await?;
    if agent.is_deleted() {
        return Err(AppError::Conflict("the agent is deleted".into()));
    }
    Ok(agent)
}

pub async fn update(
    s: &Services,
    viewer: &Viewer,
    id: &str,
    change: AgentChange,
) -> AppResult<Agent> {
    let agent = changeable(s, viewer, id).await?;
    let mut row: agent::ActiveModel = agent.clone().into();
    if let Some(value) = &change.name {
        row.name = Set(name(value)?);
    }
    if let Some(value) = &change.model {
        row.model = Set(model(value)?);
    }
    if let Some(value) = &change.api_key {
        row.api_key = Set(sealed_key(s, &agent.id, value)?);
    }
    if let Some(value) = &change.base_url {
        row.base_url = Set(base_url(value)?);
    }
    if let Some(value) = &change.system_prompt {
        row.system_prompt = Set(prompt(value)?);
    }
    if let Some(value) = change.is_active {
        row.is_active = Set(value);
    }
    row.updated_at = Set(Utc::now().trunc_subsecs(6));
    Ok(row.update(&s.db).await?)
}

/// Replaces the sections `change` names; the rest stay. Nothing is stored unless the whole
/// result is valid.
pub async fn update_settings(
    s: &Services,
    viewer: &Viewer,
    id: &str,
    change: SettingsChange,
) -> AppResult<Agent> {
    let agent = changeable(s, viewer, id).await?;
    let settings = agent.settings()?.with(change);
    settings.validate()?;
    let mut row: agent::ActiveModel = agent.into();
    row.settings = Set(settings.to_json()?);
    row.updated_at = Set(Utc::now().trunc_subsecs(6));
    Ok(row.update(&s.db).await?)
}

/// Soft: the agent stops answering and leaves the lists, its conversations stay readable.
pub async fn delete(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Agent> {
    let agent = changeable(s, viewer, id).await?;
    let now = Utc::now().trunc_subsecs(6);
    let mut row: agent::ActiveModel = agent.into();
    row.is_active = Set(false);
    row.deleted_at = Set(Some(now));
    row.updated_at = Set(now);
    let agent = row.update(&s.db).await?;
    tracing::info!(agent = %agent.id, "agent deleted");
    Ok(agent)
}

/// The agent's own LLM key, opened for the one request that sends it.
pub fn api_key(s: &Services, agent: &Agent) -> AppResult<Option<Secret>> {
    agent
        .api_key
        .as_deref()
        .map(|sealed| s.secrets.open(sealed, &api_key_place(&agent.id)))
        .transpose()
}

/// Stores an event of the agent on `conn` (the transaction of the change it reports) with
/// the agent's next sequence; publish it with [`announce`] once committed.
pub async fn record_event<C: ConnectionTrait>(
    conn: &C,
    agent: &Agent,
    kind: AgentEventKind,
    conversation_id: Option<&str>,
    integration_id: Option<&str>,
    detail: String,
) -> AppResult<AgentEvent> {
    let sequence = crate::db::next_sequence(conn, "agents", "event_sequence", &agent.id).await?;
    let row = agent_event::Model {
        agent_id: agent.id.clone(),
        sequence,
        org_id: agent.org_id.clone(),
        kind,
        conversation_id: conversation_id.map(str::to_string),
        integration_id: integration_id.map(str::to_string),
        detail,
        at: Utc::now().trunc_subsecs(6),
    };
    agent_event::Entity::insert(agent_event::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    Ok(row.into())
}

/// After the commit: log and push an agent's event to its subscribers.
pub async fn announce(s: &Services, event: AgentEvent) {
    tracing::info!(agent = %event.agent_id.as_str(), kind = ?event.kind, detail = %event.detail, "agent event");
    s.bus.publish(event).await;
}

/// Records and announces one event on its own.
pub async fn report(
    s: &Services,
    agent: &Agent,
    kind: AgentEventKind,
    conversation_id: Option<&str>,
    integration_id: Option<&str>,
    detail: String,
) -> AppResult<()> {
    let txn = crate::db::begin(&s.db).await?;
    let event = record_event(&txn, agent, kind, conversation_id, integration_id, detail).await?;
    txn.commit().await?;
    announce(s, event).await;
    Ok(())
}
