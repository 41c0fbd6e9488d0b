//! Delivering: one durable job per (endpoint, event) makes the attempts, each a signed POST
//! with a timeout, and records them in the delivery (the log). Timeouts, network failures,
//! 5xx and 429 are tried again on a fixed schedule (a longer Retry-After wins); any other
//! answer is final. Ordered events wait their turn (`ordering`), and an endpoint takes only
//! so many at once (`in_flight`). An endpoint whose every attempt has failed for
//! WEBHOOKS_DISABLE_AFTER_HOURS is disabled, and its organisation told by an event.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::entity::{delivery, endpoint, DeliveryStatus, EventType};
use super::in_flight::InFlight;
use super::ordering::{earlier_pending, hurry_next};
use super::outbox::{self, Outgoing, Payload, KIND};
use super::service;
use super::signing;
use super::store::{self, Delivery, Endpoint, Event};
use super::WebhooksConfig;
use crate::error::AppResult;
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::providers::http::{read_capped, retry_after, Capped};
use crate::providers::public_net;
use crate::services::Services;

/// The waits before the second to the eighth attempt.
const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The most of an answer's body kept in the log.
pub const EXCERPT_BYTES: usize = 1024;

/// The JSON body of every delivery of `event`.
pub fn body(event: &Event) -> Vec<u8> {
    let data: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    json!({
        "id": event.id,
        "type": event.event_type.as_str(),
        "organisation": event.org_id,
        "timestamp": event.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// What one attempt came to.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
    excerpt: Option<String>,
    retry_after: Option<Duration>,
    /// Trying again cannot help (a 4xx, a refused address).
    permanent: bool,
}

impl Attempt {
    fn refused(why: String) -> Self {
        Self {
            status: None,
            error: Some(why),
            excerpt: None,
            retry_after: None,
            permanent: true,
        }
    }

    fn succeeded(&self) -> bool {
        self.status.is_some_and(|code| (200..300).contains(&code))
    }
}

/// At most [`EXCERPT_BYTES`] of a body, as text fit for the database.
fn excerpt(bytes: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| *c != '\0')
        .collect();
    let mut end = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text[..end].to_string();
    (!text.is_empty()).then_some(text)
}

fn build_client(config: &WebhooksConfig) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(config.timeout())
        .connect_timeout(config.timeout())
        .user_agent(concat!("switchboard-webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if config.allow_private {
        builder
    } else {
        public_net::restrict(builder)
    };
    builder.redirect(reqwest::redirect::Policy::none()).build()
}

/// How long a delivery waits in its slot for a place among its endpoint's deliveries in
/// flight before it gives the slot up: long enough for a fast endpoint to free one, short
/// enough that a slow endpoint's queue holds few slots.
const PATIENCE: Duration = Duration::from_millis(100);

pub struct DeliverHandler {
    services: Services,
    client: OnceLock<reqwest::Client>,
    in_flight: InFlight,
}

impl DeliverHandler {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        let in_flight = InFlight::new(services.config.webhooks.endpoint_concurrency);
        Arc::new(Self {
            services,
            client: OnceLock::new(),
            in_flight,
        })
    }

    fn client(&self) -> Result<&reqwest::Client, JobFailure> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let built = build_client(&self.services.config.webhooks).map_err(|err| {
            tracing::warn!(error = %err, "could not build the webhooks HTTP client");
            JobFailure::retry("could not build the HTTP client")
        })?;
        Ok(self.client.get_or_init(|| built))
    }

    /// One signed POST of `event` to `endpoint`.
    async fn attempt(&self, endpoint: &Endpoint, event: &Event) -> Result<Attempt, JobFailure> {
        let s = &self.services;
        // Checked again at every connection: the setting may have changed since it was
        // registered; names are checked by the client's resolver.
        let url = match service::check_url(&s.config.webhooks, &endpoint.url) {
            Ok(url) => url,
            Err(err) => return Ok(Attempt::refused(err.message().to_string())),
        };
        let body = body(event);
        // The receiver compares it with its own clock: the system's, not the rules' clock.
        let timestamp = Utc::now().timestamp();
        let secrets = service::signing_secrets(s, endpoint)?;
        let signature = signing::signature_header(&secrets, &event.id, timestamp, &body)?;
        let request = self
            .client()?
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                if let Some(why) = public_net::kept_out(&err) {
                    return Ok(Attempt::refused(why));
                }
                let what = if err.is_timeout() {
                    "timed out"
                } else if err.is_connect() {
                    "could not connect"
                } else {
                    "the request failed"
                };
                return Ok(Attempt {
                    status: None,
                    error: Some(what.into()),
                    excerpt: None,
                    retry_after: None,
                    permanent: false,
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let (excerpt, error) = match read_capped(response, EXCERPT_BYTES as u64).await {
            Ok(Capped::Whole(bytes) | Capped::TooLarge(bytes)) => (excerpt(&bytes), None),
            Err(err) if err.is_timeout() => (None, Some("timed out reading the answer".into())),
            Err(_) => (None, Some("the answer was cut off".into())),
        };
        let transient = status == 429 || status >= 500;
        Ok(Attempt {
            status: Some(status),
            error: error
                .or_else(|| (!(200..300).contains(&status)).then(|| format!("answered {status}"))),
            excerpt,
            retry_after: retry_after.filter(|_| transient),
            permanent: !transient,
        })
    }

    /// Records the attempt in the delivery and the endpoint's health; answers when to try
    /// again, if the delivery is still pending.
    async fn record(
        &self,
        delivery: &Delivery,
        endpoint: &Endpoint,
        attempt: Attempt,
    ) -> AppResult<Option<Duration>> {
        let s = &self.services;
        let now = s.clock.now();
        let attempts = delivery.attempts.saturating_add(1);
        let succeeded = attempt.succeeded();
        let retry_in = SCHEDULE
            .get(usize::try_from(delivery.attempts).unwrap_or(usize::MAX))
            .filter(|_| !succeeded && !attempt.permanent)
            .map(|wait| (*wait).max(attempt.retry_after.unwrap_or_default()));
        let status = match (succeeded, retry_in) {
            (true, _) => DeliveryStatus::Delivered,
            (false, Some(_)) => DeliveryStatus::Pending,
            (false, None) => DeliveryStatus::Failed,
        };
        let next_attempt_at = retry_in.map(|wait| now + chrono_of(wait));
        let txn = crate::db::begin(&s.db).await?;
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(status))
            .col_expr(delivery::Column::Attempts, Expr::value(attempts))
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(delivery::Column::LastAttemptAt, Expr::value(now))
            .col_expr(
                delivery::Column::LastStatusCode,
                Expr::value(attempt.status.map(i32::from)),
            )
            .col_expr(
                delivery::Column::LastError,
                Expr::value(attempt.error.clone()),
            )
            .col_expr(
                delivery::Column::ResponseExcerpt,
                Expr::value(attempt.excerpt),
            )
            .col_expr(
                delivery::Column::DeliveredAt,
                Expr::value(succeeded.then_some(now)),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.eq(&delivery.id))
            .filter(delivery::Column::Round.eq(delivery.round))
            .exec(&txn)
            .await?;
        if succeeded {
            endpoint::Entity::update_many()
                .col_expr(
                    endpoint::Column::FailingSince,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .filter(endpoint::Column::Id.eq(&endpoint.id))
                .filter(endpoint::Column::FailingSince.is_not_null())
                .exec(&txn)
                .await?;
        } else {
            self.failed(&txn, endpoint, now).await?;
        }
        if status != DeliveryStatus::Pending {
            hurry_next(s, &txn, delivery).await?;
        }
        txn.commit().await?;
        s.jobs.wake();
        let outcome = match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        };
        metrics::counter!("switchboard_webhook_attempts_total", "outcome" => outcome).increment(1);
        Ok(retry_in)
    }

    /// An attempt failed: the endpoint has been failing since then, or earlier; past the
    /// limit it is disabled and the organisation told.
    async fn failed<C: ConnectionTrait>(
        &self,
        conn: &C,
        endpoint: &Endpoint,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let s = &self.services;
        let since = endpoint.failing_since.unwrap_or(now);
        if now - since < s.config.webhooks.disable_after() {
            endpoint::Entity::update_many()
                .col_expr(endpoint::Column::FailingSince, Expr::value(since))
                .filter(endpoint::Column::Id.eq(&endpoint.id))
                .filter(endpoint::Column::FailingSince.is_null())
                .exec(conn)
                .await?;
            return Ok(());
        }
        let reason = format!(
            "every delivery failed since {}",
            since.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let disabled = endpoint::Entity::update_many()
            .col_expr(endpoint::Column::Enabled, Expr::value(false))
            .col_expr(
                endpoint::Column::DisabledReason,
                Expr::value(reason.clone()),
            )
            .col_expr(endpoint::Column::UpdatedAt, Expr::value(now))
            .filter(endpoint::Column::Id.eq(&endpoint.id))
            .filter(endpoint::Column::Enabled.eq(true))
            .exec(conn)
            .await?;
        if disabled.rows_affected == 0 {
            return Ok(());
        }
        tracing::warn!(endpoint = %endpoint.id, org = %endpoint.org_id, "disabled a webhook endpoint failing for too long");
        abandon_pending(conn, &endpoint.id, "the endpoint was disabled", now).await?;
        let data = json!({
            "endpointId": endpoint.id,
            "url": endpoint.url,
            "reason": reason,
            "failingSince": since.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
        outbox::emit_on(
            s,
            conn,
            Outgoing::new(&endpoint.org_id, EventType::WebhookEndpointDisabled, data),
        )
        .await
    }
}

fn chrono_of(wait: Duration) -> chrono::Duration {
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Gives up the endpoint's pending deliveries (it was disabled); a redelivery sends one again.
pub async fn abandon_pending<C: ConnectionTrait>(
    conn: &C,
    endpoint_id: &str,
    why: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Failed),
        )
        .col_expr(delivery::Column::LastError, Expr::value(why))
        .col_expr(
            delivery::Column::NextAttemptAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending))
        .exec(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl JobHandler for DeliverHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let payload: Payload = job.payload()?;
        let s = &self.services;
        // Gone with its endpoint, or a job of an earlier round: nothing to do.
        let Some(delivery) = store::load_delivery(&s.db, &payload.delivery_id).await? else {
            return Ok(());
        };
        if delivery.round != payload.round || delivery.status != DeliveryStatus::Pending {
            return Ok(());
        }
        let endpoint = store::load_endpoint(&s.db, &delivery.endpoint_id).await?;
        if !endpoint.enabled {
            abandon_pending(
                &s.db,
                &endpoint.id,
                "the endpoint is disabled",
                s.clock.now(),
            )
            .await?;
            return Ok(());
        }
        if let Some(earlier) = earlier_pending(&s.db, &delivery).await? {
            // Until the earlier one's next attempt; it hurries this one when it is over.
            let until = earlier.next_attempt_at.unwrap_or_else(|| s.clock.now());
            let now = s.clock.now();
            let wait = (until - now)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1));
            // So that a delivery waiting behind this one waits as long.
            delivery::Entity::update_many()
                .col_expr(
                    delivery::Column::NextAttemptAt,
                    Expr::value(now + chrono_of(wait)),
                )
                .filter(delivery::Column::Id.eq(&delivery.id))
                .exec(&s.db)
                .await?;
            return Err(JobFailure::wait(
                "waiting for an earlier event to this endpoint",
                wait,
            ));
        }
        let Some(_place) = self.in_flight.enter(&endpoint.id, PATIENCE).await else {
            let wait = Duration::from_millis(rand::rng().random_range(500..1500));
            return Err(JobFailure::wait(
                format!(
                    "{} deliveries to this endpoint are in flight",
                    self.in_flight.per_endpoint()
                ),
                wait,
            ));
        };
        let event = store::load_event(&s.db, &delivery.event_id).await?;
        let attempt = self.attempt(&endpoint, &event).await?;
        let message = attempt
            .error
            .clone()
            .unwrap_or_else(|| "the delivery failed".into());
        match self.record(&delivery, &endpoint, attempt).await? {
            Some(wait) => Err(JobFailure::retry_in(message, wait)),
            None => Ok(()),
        }
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        let Ok(payload) = job.payload::<Payload>() else {
            return;
        };
        let s = &self.services;
        let gave_up = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(DeliveryStatus::Failed),
            )
            .col_expr(delivery::Column::LastError, Expr::value(error))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(s.clock.now()))
            .filter(delivery::Column::Id.eq(&payload.delivery_id))
            .filter(delivery::Column::Round.eq(payload.round))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending))
            .exec(&s.db)
            .await;
        if let Err(err) = gave_up {
            tracing::warn!(delivery = %payload.delivery_id, error = ?err, "could not record a dead delivery");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_at_most_a_kibibyte_cut_on_a_character() {
        let long = "é".repeat(1000);
        let cut = excerpt(long.as_bytes()).unwrap();
        assert!(cut.len() <= EXCERPT_BYTES);
        assert_eq!(cut.len(), EXCERPT_BYTES);
        assert_eq!(excerpt(b"a\0b").as_deref(), Some("ab"));
        assert_eq!(excerpt(b""), None);
    }

    #[test]
    fn the_schedule_spans_about_a_day() {
        let total: Duration = SCHEDULE.iter().sum();
        assert_eq!(
            total.as_secs(),
            5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000
        );
    }
}
