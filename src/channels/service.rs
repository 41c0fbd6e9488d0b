//! The integrations commands: connect, disconnect, reconnect. Integrations hold channel
//! credentials, so only admins of the organisation change them. No GraphQL here.

use chrono::{SubsecRound, Utc};
use rand::distr::{Alphanumeric, SampleString};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use super::credentials::{self, Credentials, Given, Inputs};
use super::device;
use super::entity::{integration, IntegrationKind, IntegrationState, ReceiveMode, SessionStatus};
use super::lifecycle::{self, claim_refused};
use super::remote;
use super::store::{self, active_key, Integration};
use crate::agents;
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::services::Services;

pub struct ConnectInput {
    pub agent_id: String,
    pub kind: IntegrationKind,
    pub name: String,
    /// Only the kind's own credentials are given.
    pub credentials: Inputs,
}

/// Telegram's webhook secret: 48 letters and digits, which its header allows.
fn webhook_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

fn by(viewer: &Viewer) -> Option<String> {
    Some(format!("by {}", viewer.user_id))
}

/// An agent the viewer may bind integrations to: of its organisation, not deleted.
async fn live_agent(s: &Services, viewer: &Viewer, agent_id: &str) -> AppResult<agents::Agent> {
    let agent = agents::get(&s.db, viewer, agent_id).await?;
    if agent.is_deleted() {
        return Err(AppError::Conflict("the agent is deleted".into()));
    }
    Ok(agent)
}

/// Binds an account to an agent. The account is checked with its channel first (a refused
/// Telegram token stores nothing), then claimed (an account another integration holds is
/// CONFLICT), then the channel is told where to deliver; if that fails nothing is kept. A
/// WhatsApp device stays CONNECTING until its phone is paired and its session WORKING.
pub async fn connect(s: &Services, viewer: &Viewer, input: ConnectInput) -> AppResult<Integration> {
    viewer.require(Role::Admin)?;
    let agent = live_agent(s, viewer, &input.agent_id).await?;
    let name = crate::input::line("name", &input.name, 100)?;
    let kind = input.kind;
    let Given {
        mut credentials,
        identity,
        mode,
    } = credentials::given(kind, input.credentials)?;
    let fallback = s.config.channels.instagram_app_secret();
    if kind == IntegrationKind::Instagram && credentials.app_secret(fallback).is_none() {
        return Err(AppError::BadInput(
            "instagram.appSecret is needed: this server has no INSTAGRAM_APP_SECRET".into(),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (identity, mode) = match (kind, &mut credentials) {
        (
            IntegrationKind::Telegram,
            Credentials::Telegram {
                bot_token,
                secret_token,
            },
        ) => {
            let mode = remote::telegram_mode(s, mode)?;
            let identity = remote::bot_identity(s, bot_token).await?;
            if mode == ReceiveMode::Webhook {
                *secret_token = Some(webhook_secret());
            }
            (identity, mode)
        }
        (IntegrationKind::Sandbox, _) => (id.clone(), ReceiveMode::Sandbox),
        (
            IntegrationKind::WhatsappDevice,
            Credentials::WhatsappDevice {
                base_url,
                session,
                hmac_key,
                ..
            },
        ) => {
            *session = device::session_name(&id);
            *hmac_key = device::hmac_key();
            if s.providers.messengers.waha().is_none() {
                base_url.get_or_insert_with(|| device::SANDBOX_BASE.to_string());
            }
            // Its server must be known before anything is stored.
            credentials.waha(&s.config.channels)?;
            // The session's name until the phone is paired and its JID known.
            (device::session_name(&id), ReceiveMode::Webhook)
        }
        _ => (
            identity.ok_or_else(|| AppError::internal("Meta credentials without an account"))?,
            mode.unwrap_or(ReceiveMode::Webhook),
        ),
    };
    let now = Utc::now().trunc_subsecs(6);
    let row = integration::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(viewer.org_id.clone()),
        agent_id: Set(agent.id.clone()),
        kind: Set(kind),
        name: Set(name),
        identity: Set(Some(identity.clone())),
        active_identity: Set(Some(active_key(kind, &identity))),
        credentials: Set(credentials.seal(s, &id)?),
        mode: Set(mode),
        state: Set(IntegrationState::Connecting),
        state_reason: Set(None),
        poll_offset: Set(None),
        // STARTING before WAHA is asked, so a failure there leaves no event behind.
        session_status: Set(
            (kind == IntegrationKind::WhatsappDevice).then_some(SessionStatus::Starting)
        ),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let claimed = row
        .insert(&s.db)
        .await
        .map_err(|err| claim_refused(err, kind, &identity))?;
    if let Err(err) = remote::start_receiving(s, &claimed, &credentials).await {
        integration::Entity::delete_by_id(id).exec(&s.db).await?;
        return Err(err);
    }
    if kind == IntegrationKind::WhatsappDevice {
        tracing::info!(integration = %claimed.id, agent = %agent.id, "WhatsApp device waiting to be paired");
        return store::load(&s.db, &claimed.id).await;
    }
    let from = [IntegrationState::Connecting];
    let connected =
        lifecycle::change(s, &claimed, IntegrationState::Connected, by(viewer), &from).await?;
    tracing::info!(integration = %claimed.id, agent = %agent.id, channel = kind.channel(), "integration connected");
    match connected {
        Some(connected) => Ok(connected),
        None => store::load(&s.db, &claimed.id).await,
    }
}

/// Stops the integration and frees its account; its conversations stay. Disconnecting a
/// disconnected one changes nothing.
pub async fn disconnect(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Integration> {
    viewer.require(Role::Admin)?;
    let found = store::get(&s.db, viewer, id).await?;
    if found.state == IntegrationState::Disconnected {
        return Ok(found);
    }
    let credentials = Credentials::open(s, &found)?;
    remote::stop_receiving(s, &found, &credentials).await;
    let from = [
        IntegrationState::Connecting,
        IntegrationState::Connected,
        IntegrationState::Failed,
    ];
    let next = IntegrationState::Disconnected;
    match lifecycle::change(s, &found, next, by(viewer), &from).await? {
        Some(disconnected) => Ok(disconnected),
        None => store::load(&s.db, &found.id).await,
    }
}

/// Connects the same integration again (same id, so its conversations carry on) with the
/// credentials it has, checked again with the channel.
pub async fn reconnect(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Integration> {
    viewer.require(Role::Admin)?;
    let found = store::get(&s.db, viewer, id).await?;
    live_agent(s, viewer, &found.agent_id).await?;
    let credentials = Credentials::open(s, &found)?;
    if let Some(token) = credentials.bot_token() {
        let identity = remote::bot_identity(s, token.expose()).await?;
        if found.identity.as_deref() != Some(identity.as_str()) {
            return Err(AppError::BadInput(
                "the integration's bot token now belongs to another bot: connect that one as a new integration".into(),
            ));
        }
    }
    let any = [
        IntegrationState::Connecting,
        IntegrationState::Connected,
        IntegrationState::Disconnected,
        IntegrationState::Failed,
    ];
    let claimed = lifecycle::change(s, &found, IntegrationState::Connecting, None, &any)
        .await?
        .ok_or_else(|| AppError::not_found("integration"))?;
    if let Err(err) = remote::start_receiving(s, &claimed, &credentials).await {
        let reason = format!("could not start receiving: {}", err.message());
        lifecycle::fail(s, &claimed, reason).await?;
        return Err(err);
    }
    if claimed.kind == IntegrationKind::WhatsappDevice {
        return store::load(&s.db, &claimed.id).await;
    }
    let from = [IntegrationState::Connecting];
    let next = IntegrationState::Connected;
    match lifecycle::change(s, &claimed, next, by(viewer), &from).await? {
        Some(connected) => Ok(connected),
        None => store::load(&s.db, &claimed.id).await,
    }
}
