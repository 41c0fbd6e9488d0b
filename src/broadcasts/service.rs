//! Commands: create a broadcast (its recipients checked, de-duplicated and stored in one
//! transaction), cancel one. For managers and admins of the organisation.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};

use super::entity::{broadcast, recipient, BroadcastStatus, RecipientStatus};
use super::recipients;
use super::store::{self, Broadcast};
use super::{lifecycle, runner};
use crate::agents;
use crate::auth::{Role, Viewer};
use crate::channels::{self, Integration, IntegrationState};
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// Recipients stored per statement.
const INSERT_CHUNK: usize = 1000;

/// Which of the agent's integrations sends.
pub enum Via {
    /// This one.
    Integration(String),
    /// The agent's one connected integration on this channel (the seed's `integration_type`:
    /// telegram, whatsapp, instagram or sandbox).
    Channel(String),
}

pub struct NewBroadcast {
    pub agent_id: String,
    pub via: Via,
    pub message: String,
    pub recipients: Vec<String>,
    /// Later than now: SCHEDULED until then. Otherwise it starts at once.
    pub scheduled_at: Option<DateTime<Utc>>,
}

pub async fn create(s: &Services, viewer: &Viewer, input: NewBroadcast) -> AppResult<Broadcast> {
    viewer.require(Role::Manager)?;
    let agent = agents::get(&s.db, viewer, &input.agent_id).await?;
    if agent.is_deleted() {
        return Err(AppError::BadInput("the agent is deleted".into()));
    }
    let integration = sender_of(s, viewer, &agent.id, input.via).await?;
    let message = crate::input::text("message", &input.message, 4096)?;
    let recipients = recipients::normalize(integration.kind, &input.recipients)?;
    let now = s.clock.now().trunc_subsecs(6);
    let status = match input.scheduled_at {
        Some(at) if at > now => BroadcastStatus::Scheduled,
        _ => BroadcastStatus::Pending,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let txn = crate::db::begin(&s.db).await?;
    broadcast::Entity::insert(broadcast::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(viewer.org_id.clone()),
        agent_id: Set(agent.id.clone()),
        integration_id: Set(integration.id.clone()),
        channel: Set(channels::channel_name(integration.kind).to_string()),
        message: Set(message),
        status: Set(status),
        total: Set(recipients.len() as i64),
        sequence: Set(1),
        failure: Set(None),
        created_by: Set(viewer.user_id.clone()),
        scheduled_at: Set(input.scheduled_at.map(|at| at.trunc_subsecs(6))),
        started_at: Set(None),
        finished_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    for (n, chunk) in recipients.chunks(INSERT_CHUNK).enumerate() {
        let first = (n * INSERT_CHUNK) as i64;
        let rows = (first..)
            .zip(chunk)
            .map(|(position, to)| recipient::ActiveModel {
                broadcast_id: Set(id.clone()),
                position: Set(position),
                recipient: Set(to.clone()),
                status: Set(RecipientStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(0),
                claimed_by: Set(None),
                claimed_at: Set(None),
                error: Set(None),
                sent_at: Set(None),
            });
        recipient::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    let created = store::load(&s.db, &id).await?;
    tracing::info!(broadcast = %id, recipients = created.total, status = status.as_str(), "broadcast created");
    lifecycle::announce(s, &created).await;
    runner::wake(s);
    Ok(created)
}

/// The integration that sends the broadcast: the agent's, and not disconnected.
async fn sender_of(
    s: &Services,
    viewer: &Viewer,
    agent_id: &str,
    via: Via,
) -> AppResult<Integration> {
    let integration = match via {
        Via::Integration(id) => channels::get(&s.db, viewer, &id).await?,
        Via::Channel(channel) => {
            let mut found: Vec<Integration> = channels::list(&s.db, viewer, Some(agent_id))
                .await?
                .into_iter()
                .filter(|i| channels::channel_name(i.kind) == channel.trim().to_lowercase())
                .filter(|i| i.state == IntegrationState::Connected)
                .collect();
            match found.len() {
                1 => found.remove(0),
                0 => {
                    return Err(AppError::BadInput(format!(
                        "the agent has no connected {} integration",
                        crate::input::line("integration_type", &channel, 40)?
                    )))
                }
                _ => {
                    return Err(AppError::BadInput(format!(
                        "the agent has several connected {channel} integrations: name one with integration_id"
                    )))
                }
            }
        }
    };
    if integration.agent_id != agent_id {
        return Err(AppError::BadInput(
            "the integration is not the agent's".into(),
        ));
    }
    if integration.state == IntegrationState::Disconnected {
        return Err(AppError::BadInput("the integration is disconnected".into()));
    }
    Ok(integration)
}

/// Stops the broadcast: nothing more is sent (a send in flight finishes). Cancelling a
/// cancelled broadcast answers it as it is; a finished one cannot be.
pub async fn cancel(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Broadcast> {
    viewer.require(Role::Manager)?;
    let found = store::get(&s.db, viewer, id).await?;
    let open = [
        BroadcastStatus::Pending,
        BroadcastStatus::Scheduled,
        BroadcastStatus::Processing,
    ];
    let cancelled = lifecycle::apply(s, &found.id, &open, BroadcastStatus::Cancelled, None).await?;
    runner::stop_local(s, &found.id);
    match cancelled {
        Some(broadcast) => {
            tracing::info!(broadcast = %broadcast.id, by = %viewer.user_id, "broadcast cancelled");
            Ok(broadcast)
        }
        None => {
            let now = store::load(&s.db, &found.id).await?;
            match now.status {
                BroadcastStatus::Cancelled => Ok(now),
                other => Err(AppError::Conflict(format!(
                    "the broadcast is already {}",
                    other.as_str()
                ))),
            }
        }
    }
}
