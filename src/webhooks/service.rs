//! Endpoints: the commands, with their role checks. Only admins manage an organisation's
//! endpoints or read them and their deliveries; another organisation's rows do not exist for
//! the caller. A signing secret is answered once, when it is made, and kept sealed.

use chrono::Duration;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use url::Url;

use super::config::WebhooksConfig;
use super::delivery;
use super::entity::{self, endpoint, DeliveryStatus, EventType};
use super::outbox;
use super::signing;
use super::store::{self, Delivery, Endpoint};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::providers::public_net;
use crate::secrets::{self, Secret};
use crate::services::Services;

const URL_CHARS: usize = 2000;
const DESCRIPTION_CHARS: usize = 500;

/// How long a rotated-out secret keeps signing alongside the new one.
pub fn rotation_overlap() -> Duration {
    Duration::hours(24)
}

pub struct NewEndpoint {
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
}

#[derive(Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Why an endpoint's URL is refused, if it is: not http(s), credentials in it, plain http or
/// a private address without WEBHOOKS_ALLOW_PRIVATE. Names that resolve to private addresses
/// are refused where they are resolved, at every connection.
pub fn check_url(config: &WebhooksConfig, url: &str) -> AppResult<Url> {
    let bad = |why: &str| AppError::BadInput(format!("url {why}"));
    let text = crate::input::line("url", url, URL_CHARS)?;
    let url = Url::parse(&text).map_err(|_| bad("is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if config.allow_private => {}
        "http" => return Err(bad("must be https")),
        _ => return Err(bad("must be https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !config.allow_private {
        if let Some(why) = public_net::refusal(&url) {
            return Err(AppError::BadInput(format!("url refused: {why}")));
        }
    }
    Ok(url)
}

fn event_types_text(types: &[EventType]) -> AppResult<String> {
    let mut unique: Vec<EventType> = Vec::new();
    for t in types {
        if !unique.contains(t) {
            unique.push(*t);
        }
    }
    if unique.is_empty() {
        return Err(AppError::BadInput(
            "eventTypes must name at least one event type".into(),
        ));
    }
    serde_json::to_string(&unique).map_err(AppError::internal)
}

fn description(text: Option<String>) -> AppResult<Option<String>> {
    text.filter(|d| !d.trim().is_empty())
        .map(|d| crate::input::line("description", &d, DESCRIPTION_CHARS))
        .transpose()
}

fn secret_place(id: &str) -> String {
    secrets::place("webhook_endpoints", "secret", id)
}

fn previous_secret_place(id: &str) -> String {
    secrets::place("webhook_endpoints", "previous_secret", id)
}

/// The organisation's endpoints.
pub async fn endpoints(s: &Services, viewer: &Viewer) -> AppResult<Vec<Endpoint>> {
    viewer.require(Role::Admin)?;
    store::endpoints(&s.db, viewer).await
}

pub async fn endpoint(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Endpoint> {
    viewer.require(Role::Admin)?;
    store::endpoint(&s.db, viewer, id).await
}

/// Registers an endpoint; answers it with its signing secret, which is never shown again.
pub async fn create(
    s: &Services,
    viewer: &Viewer,
    new: NewEndpoint,
) -> AppResult<(Endpoint, Secret)> {
    viewer.require(Role::Admin)?;
    let url = check_url(&s.config.webhooks, &new.url)?;
    let event_types = event_types_text(&new.event_types)?;
    let description = description(new.description)?;
    let id = uuid::Uuid::new_v4().to_string();
    let secret = signing::new_secret();
    let now = s.clock.now();
    let row = endpoint::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(viewer.org_id.clone()),
        url: Set(url.to_string()),
        description: Set(description),
        event_types: Set(event_types),
        enabled: Set(true),
        secret: Set(s.secrets.seal(secret.expose(), &secret_place(&id))),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        failing_since: Set(None),
        disabled_reason: Set(None),
        created_by: Set(viewer.user_id.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok((row.insert(&s.db).await?, secret))
}

/// Changes an endpoint's URL, event types, description or whether it is enabled. Enabling
/// it again forgets its failures.
pub async fn update(
    s: &Services,
    viewer: &Viewer,
    id: &str,
    change: EndpointChange,
) -> AppResult<Endpoint> {
    viewer.require(Role::Admin)?;
    let row = store::endpoint(&s.db, viewer, id).await?;
    let mut active: endpoint::ActiveModel = row.clone().into();
    if let Some(url) = change.url {
        active.url = Set(check_url(&s.config.webhooks, &url)?.to_string());
    }
    if let Some(types) = change.event_types {
        active.event_types = Set(event_types_text(&types)?);
    }
    if let Some(text) = change.description {
        active.description = Set(description(Some(text))?);
    }
    let now = s.clock.now();
    let disabling = change.enabled == Some(false) && row.enabled;
    if let Some(enabled) = change.enabled {
        active.enabled = Set(enabled);
        if enabled && !row.enabled {
            active.failing_since = Set(None);
            active.disabled_reason = Set(None);
        }
    }
    active.updated_at = Set(now);
    let txn = crate::db::begin(&s.db).await?;
    let row = active.update(&txn).await?;
    if disabling {
        delivery::abandon_pending(&txn, &row.id, "the endpoint was disabled", now).await?;
    }
    txn.commit().await?;
    Ok(row)
}

/// A new signing secret, answered once; the old one signs alongside it for 24 hours.
pub async fn rotate(s: &Services, viewer: &Viewer, id: &str) -> AppResult<(Endpoint, Secret)> {
    viewer.require(Role::Admin)?;
    let row = store::endpoint(&s.db, viewer, id).await?;
    let old = s.secrets.open(&row.secret, &secret_place(&row.id))?;
    let secret = signing::new_secret();
    let now = s.clock.now();
    let mut active: endpoint::ActiveModel = row.clone().into();
    active.secret = Set(s.secrets.seal(secret.expose(), &secret_place(&row.id)));
    active.previous_secret = Set(Some(
        s.secrets
            .seal(old.expose(), &previous_secret_place(&row.id)),
    ));
    active.previous_secret_expires_at = Set(Some(now + rotation_overlap()));
    active.updated_at = Set(now);
    Ok((active.update(&s.db).await?, secret))
}

/// Deletes an endpoint with its delivery log; its pending deliveries are dropped.
pub async fn delete(s: &Services, viewer: &Viewer, id: &str) -> AppResult<Endpoint> {
    viewer.require(Role::Admin)?;
    let row = store::endpoint(&s.db, viewer, id).await?;
    endpoint::Entity::delete_by_id(row.id.clone())
        .exec(&s.db)
        .await?;
    Ok(row)
}

/// The secrets that sign a delivery to `endpoint` now: its own, then the rotated-out one
/// while it lasts.
pub fn signing_secrets(s: &Services, endpoint: &Endpoint) -> AppResult<Vec<Secret>> {
    let mut secrets = vec![s
        .secrets
        .open(&endpoint.secret, &secret_place(&endpoint.id))?];
    let overlapping = endpoint
        .previous_secret_expires_at
        .is_some_and(|until| until > s.clock.now());
    if let (Some(previous), true) = (&endpoint.previous_secret, overlapping) {
        secrets.push(
            s.secrets
                .open(previous, &previous_secret_place(&endpoint.id))?,
        );
    }
    Ok(secrets)
}

/// The endpoint's deliveries, newest first (admins only).
pub async fn deliveries(
    s: &Services,
    viewer: &Viewer,
    endpoint_id: &str,
    after: Option<(chrono::DateTime<chrono::Utc>, String)>,
    first: u64,
) -> AppResult<crate::graphql::pagination::Page<Delivery>> {
    viewer.require(Role::Admin)?;
    let endpoint = store::endpoint(&s.db, viewer, endpoint_id).await?;
    store::deliveries(&s.db, &endpoint.id, after, first).await
}

/// Sends an event to an endpoint again, under the same event id, as a new round of
/// attempts; an event the endpoint never had is sent to it for the first time.
pub async fn redeliver(
    s: &Services,
    viewer: &Viewer,
    event_id: &str,
    endpoint_id: &str,
) -> AppResult<Delivery> {
    viewer.require(Role::Admin)?;
    let endpoint = store::endpoint(&s.db, viewer, endpoint_id).await?;
    let event = store::event(&s.db, viewer, event_id).await?;
    if !endpoint.enabled {
        return Err(AppError::Conflict(
            "the endpoint is disabled: enable it first".into(),
        ));
    }
    let txn = crate::db::begin(&s.db).await?;
    let delivery = match store::delivery_of(&txn, &endpoint.id, &event.id).await? {
        None => outbox::deliver_on(s, &txn, &endpoint, &event).await?,
        Some(row) if row.status == DeliveryStatus::Pending => {
            return Err(AppError::Conflict(
                "the event is still being delivered to this endpoint".into(),
            ))
        }
        Some(row) => {
            let now = s.clock.now();
            let round = row
                .round
                .checked_add(1)
                .ok_or_else(|| AppError::Conflict("redelivered too often".into()))?;
            let mut active: entity::delivery::ActiveModel = row.into();
            active.status = Set(DeliveryStatus::Pending);
            active.attempts = Set(0);
            active.round = Set(round);
            active.next_attempt_at = Set(Some(now));
            active.updated_at = Set(now);
            let row = active.update(&txn).await?;
            outbox::enqueue_on(s, &txn, &row.id, round, now).await?;
            row
        }
    };
    txn.commit().await?;
    s.jobs.wake();
    Ok(delivery)
}
