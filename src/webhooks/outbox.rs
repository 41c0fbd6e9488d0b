//! The hook the other domains call: an outgoing event is recorded in the transaction of the
//! change it reports, with one durable delivery job per endpoint subscribed to it, so the
//! event exists exactly when the change does, and is delivered even if the process stops
//! right after the commit. (The in-memory bus is lossy by design; it is not used here.)

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::entity::{delivery, endpoint, event, DeliveryStatus, EventType};
use super::store::{self, Delivery, Endpoint, Event};
use crate::error::AppResult;
use crate::jobs::NewJob;
use crate::services::Services;

/// The job kind of one delivery.
pub const KIND: &str = "webhooks.deliver";

/// A delivery's job never dies of the queue's attempt limit: the delivery counts its own
/// attempts (waiting for an earlier event is not one) and gives up by itself.
const JOB_ATTEMPTS: u32 = 10_000;

/// An event to send to the organisation's endpoints.
pub struct Outgoing {
    pub org_id: String,
    pub event_type: EventType,
    /// The body's `data`.
    pub data: Value,
    /// Events sharing a key (a bot's statuses) reach each endpoint in the order of their
    /// sequence: `(key, sequence)`.
    pub order: Option<(String, i64)>,
}

impl Outgoing {
    pub fn new(org_id: &str, event_type: EventType, data: Value) -> Self {
        Self {
            org_id: org_id.to_string(),
            event_type,
            data,
            order: None,
        }
    }

    pub fn ordered(mut self, key: String, sequence: i64) -> Self {
        self.order = Some((key, sequence));
        self
    }
}

/// What a delivery job carries.
#[derive(Serialize, Deserialize)]
pub struct Payload {
    pub delivery_id: String,
    pub round: i32,
}

/// Records `outgoing` on `conn` (the transaction of the change it reports) with a delivery
/// and its job for each enabled endpoint of the organisation subscribed to its type. Nothing
/// is recorded when no endpoint wants it, except an endpoint's disabling, which is kept for
/// the organisation in any case. The caller wakes the jobs after its commit.
pub async fn emit_on<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    outgoing: Outgoing,
) -> AppResult<()> {
    let endpoints = endpoint::Entity::find()
        .filter(endpoint::Column::OrgId.eq(&outgoing.org_id))
        .filter(endpoint::Column::Enabled.eq(true))
        .all(conn)
        .await?;
    let targets: Vec<Endpoint> = endpoints
        .into_iter()
        .filter(|e| store::event_types(e).contains(&outgoing.event_type))
        .collect();
    if targets.is_empty() && outgoing.event_type != EventType::WebhookEndpointDisabled {
        return Ok(());
    }
    let (ordering_key, sequence) = outgoing.order.unzip();
    let row = event::Model {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: outgoing.org_id,
        event_type: outgoing.event_type,
        payload: outgoing.data.to_string(),
        ordering_key,
        sequence,
        created_at: s.clock.now(),
    };
    event::Entity::insert(event::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    for target in &targets {
        deliver_on(s, conn, target, &row).await?;
    }
    Ok(())
}

/// The unique key of a delivery's job in one round.
pub fn job_key(delivery_id: &str, round: i32) -> String {
    format!("webhook:{delivery_id}:{round}")
}

/// A new delivery of `event` to `endpoint`, and its job.
pub async fn deliver_on<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    endpoint: &Endpoint,
    event: &Event,
) -> AppResult<Delivery> {
    let now = s.clock.now();
    let row = delivery::Model {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: endpoint.org_id.clone(),
        endpoint_id: endpoint.id.clone(),
        event_id: event.id.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        round: 0,
        ordering_key: event.ordering_key.clone(),
        sequence: event.sequence,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        last_status_code: None,
        last_error: None,
        response_excerpt: None,
        delivered_at: None,
        created_at: now,
        updated_at: now,
    };
    delivery::Entity::insert(delivery::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    enqueue_on(s, conn, &row.id, row.round, now).await?;
    Ok(row)
}

/// The job of a delivery's round, due at `at`.
pub async fn enqueue_on<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    delivery_id: &str,
    round: i32,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let payload = Payload {
        delivery_id: delivery_id.to_string(),
        round,
    };
    let job = NewJob::new(KIND, payload)?
        .max_attempts(JOB_ATTEMPTS)
        .unique_key(job_key(delivery_id, round))
        .run_at(at);
    s.jobs.enqueue_on(conn, job).await.map(drop)
}
