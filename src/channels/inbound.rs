//! What a channel delivers becomes durable jobs for the conversations domain, which handles
//! them: one job per message, keyed by the provider's message id, so a webhook delivered
//! again (or a poll repeated after a crash) adds nothing.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::error::AppResult;
use crate::jobs::NewJob;
use crate::providers::messaging::{self, DeliveryUpdate, InboundMessage};
use crate::services::Services;

/// The kind of the job that carries an [`Inbound`].
pub const INBOUND_JOB: &str = "conversations.inbound";
/// The kind of the job that carries a [`Delivery`].
pub const DELIVERY_JOB: &str = "conversations.delivery";

/// A message someone sent to the account of `integration_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    pub integration_id: String,
    pub message: InboundMessage,
}

/// What became of a message sent from the account of `integration_id` (WhatsApp's statuses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub integration_id: String,
    pub update: DeliveryUpdate,
}

impl Inbound {
    /// Tried as often as the agents' settings allow an answer to be tried.
    pub fn job(&self, s: &Services) -> AppResult<NewJob> {
        let key = format!(
            "inbound:{}:{}",
            self.integration_id, self.message.provider_message_id
        );
        Ok(NewJob::new(INBOUND_JOB, self)?
            .unique_key(key)
            .max_attempts(s.config.agents.reply_max_attempts))
    }
}

impl Delivery {
    /// One job per status of a message: "delivered" after "sent" is news, "sent" twice is not.
    pub fn job(&self) -> AppResult<NewJob> {
        let status = match self.update.status {
            messaging::Delivery::Sent => "sent",
            messaging::Delivery::Delivered => "delivered",
            messaging::Delivery::Read => "read",
            messaging::Delivery::Failed => "failed",
        };
        let key = format!(
            "delivery:{}:{}:{status}",
            self.integration_id, self.update.provider_message_id
        );
        Ok(NewJob::new(DELIVERY_JOB, self)?.unique_key(key))
    }
}

/// Enqueues on `conn` (the caller's transaction); wake the worker once it commits.
pub async fn enqueue_on<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    jobs: Vec<NewJob>,
) -> AppResult<()> {
    for job in jobs {
        s.jobs.enqueue_on(conn, job).await?;
    }
    Ok(())
}

/// Everything one request brought, in one transaction: all of it is stored, or none.
pub async fn enqueue(s: &Services, jobs: Vec<NewJob>) -> AppResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let txn = crate::db::begin(&s.db).await?;
    enqueue_on(s, &txn, jobs).await?;
    txn.commit().await?;
    s.jobs.wake();
    Ok(())
}
