//! State changes: the integration's row and its agent's event written in one transaction,
//! committed, then announced on `agentEvents`. Nothing else in the domain changes a state.

use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveValue, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, SqlErr, TryIntoModel,
};

use super::entity::{integration, IntegrationKind, IntegrationState, SessionStatus};
use super::store::{active_key, Integration};
use crate::agents::{self, AgentEventKind};
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// A database refusal of a claim on an account: CONFLICT when another integration holds it.
pub fn claim_refused(err: DbErr, kind: IntegrationKind, identity: &str) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(format!(
            "this {} account ({identity}) is connected to another integration; disconnect that one first",
            kind.channel()
        )),
        _ => err.into(),
    }
}

fn state_name(state: IntegrationState) -> &'static str {
    match state {
        IntegrationState::Connecting => "connecting",
        IntegrationState::Connected => "connected",
        IntegrationState::Disconnected => "disconnected",
        IntegrationState::Failed => "failed",
    }
}

/// What the agent's event says: which integration, its new state, and why.
pub fn detail(integration: &Integration, state: IntegrationState, reason: Option<&str>) -> String {
    let mut detail = format!(
        "{} integration '{}' {}",
        integration.kind.channel(),
        integration.name,
        state_name(state)
    );
    if let Some(reason) = reason {
        detail.push_str(": ");
        detail.push_str(reason);
    }
    detail
}

/// Moves `integration` to `next`, if it is still in one of `from`: `None` when it has moved
/// on since it was read (a person disconnected it while the poller failed it, say). Any state
/// but DISCONNECTED holds the account; taking one another integration holds is CONFLICT.
/// Every change but to CONNECTING is an event of the agent.
pub async fn change(
    s: &Services,
    integration: &Integration,
    next: IntegrationState,
    reason: Option<String>,
    from: &[IntegrationState],
) -> AppResult<Option<Integration>> {
    let mut row: integration::ActiveModel = integration.clone().into();
    row.state = Set(next);
    let announce = next != IntegrationState::Connecting;
    apply(s, integration, row, reason, from, announce).await
}

/// A WhatsApp device's WAHA session reached `status`: the integration's state follows it
/// (SessionStatus::state), and once WORKING its account is the phone's `jid`, claimed as any
/// account is. Every status is an event of the agent, SCAN_QR_CODE again too: WAHA says it
/// each time the QR code changes. A disconnected device stays so.
pub async fn session_changed(
    s: &Services,
    integration: &Integration,
    status: SessionStatus,
    jid: Option<String>,
) -> AppResult<Option<Integration>> {
    let unchanged = integration.session_status == Some(status)
        && status != SessionStatus::ScanQrCode
        && (jid.is_none() || jid == integration.identity);
    if unchanged {
        return Ok(None);
    }
    let mut row: integration::ActiveModel = integration.clone().into();
    row.state = Set(status.state());
    row.session_status = Set(Some(status));
    if let Some(jid) = jid {
        row.identity = Set(Some(jid));
    }
    let reason = Some(format!("WAHA session {}", status.as_str()));
    let from = [
        IntegrationState::Connecting,
        IntegrationState::Connected,
        IntegrationState::Failed,
    ];
    match apply(s, integration, row, reason, &from, true).await {
        Err(AppError::Conflict(why)) => {
            // The phone is paired to another integration that still holds it.
            let mut row: integration::ActiveModel = integration.clone().into();
            row.state = Set(IntegrationState::Failed);
            row.session_status = Set(Some(status));
            apply(s, integration, row, Some(why), &from, true).await
        }
        applied => applied,
    }
}

/// Writes `row` (the integration with its new state) if the integration is still in one of
/// `from`, with its claim on the account as its state says, and the agent's event when
/// `announce`; commits, then announces.
async fn apply(
    s: &Services,
    integration: &Integration,
    mut row: integration::ActiveModel,
    reason: Option<String>,
    from: &[IntegrationState],
    announce: bool,
) -> AppResult<Option<Integration>> {
    let agent = agents::load(&s.db, &integration.agent_id).await?;
    let next = match &row.state {
        ActiveValue::Set(state) | ActiveValue::Unchanged(state) => *state,
        ActiveValue::NotSet => integration.state,
    };
    let identity = match &row.identity {
        ActiveValue::Set(identity) | ActiveValue::Unchanged(identity) => identity.clone(),
        ActiveValue::NotSet => integration.identity.clone(),
    }
    .unwrap_or_default();
    row.state_reason = Set(reason.clone());
    row.updated_at = Set(Utc::now().trunc_subsecs(6));
    row.active_identity =
        Set((next != IntegrationState::Disconnected)
            .then(|| active_key(integration.kind, &identity)));
    let txn = crate::db::begin(&s.db).await?;
    let updated = integration::Entity::update_many()
        .set(row.clone())
        .filter(integration::Column::Id.eq(&integration.id))
        .filter(integration::Column::State.is_in(from.iter().copied()))
        .exec(&txn)
        .await;
    let updated = match updated {
        Ok(updated) => updated,
        Err(err) => {
            txn.rollback().await?;
            return Err(claim_refused(err, integration.kind, &identity));
        }
    };
    if updated.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let event = if announce {
        let detail = detail(integration, next, reason.as_deref());
        let kind = AgentEventKind::IntegrationState;
        Some(agents::record_event(&txn, &agent, kind, None, Some(&integration.id), detail).await?)
    } else {
        None
    };
    txn.commit().await?;
    tracing::info!(integration = %integration.id, state = state_name(next), reason = reason.as_deref().unwrap_or_default(), "integration state changed");
    if let Some(event) = event {
        agents::announce(s, event).await;
    }
    Ok(Some(row.try_into_model()?))
}

/// The channel refused the integration (a revoked token, say): FAILED with why, if it was
/// connected or connecting; a disconnected one stays so.
pub async fn fail(s: &Services, integration: &Integration, reason: String) -> AppResult<()> {
    let from = [IntegrationState::Connected, IntegrationState::Connecting];
    change(
        s,
        integration,
        IntegrationState::Failed,
        Some(reason),
        &from,
    )
    .await?;
    Ok(())
}
