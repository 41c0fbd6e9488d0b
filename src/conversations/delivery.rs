//! What a channel reports of a message we sent (WhatsApp's statuses): the stored message
//! moves on (SENT → DELIVERED → READ, or FAILED), never back.

use std::sync::Arc;

use async_trait::async_trait;

use super::entity::DeliveryStatus;
use super::lifecycle::{self, MessageChange};
use super::store;
use crate::channels::{self, Delivery};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler};
use crate::providers::messaging::Delivery as Reported;
use crate::services::Services;

pub struct DeliveryHandler {
    services: Services,
}

impl DeliveryHandler {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }
}

fn rank(status: DeliveryStatus) -> u8 {
    match status {
        DeliveryStatus::Received | DeliveryStatus::Pending | DeliveryStatus::Unknown => 0,
        DeliveryStatus::Sending => 1,
        DeliveryStatus::Sent => 2,
        DeliveryStatus::Delivered => 3,
        DeliveryStatus::Read => 4,
        DeliveryStatus::Failed => 5,
    }
}

#[async_trait]
impl JobHandler for DeliveryHandler {
    fn kind(&self) -> &'static str {
        channels::DELIVERY_JOB
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let s = &self.services;
        let delivery: Delivery = job.payload()?;
        let update = &delivery.update;
        let Some(message) = store::message_by_provider_id(
            &s.db,
            &delivery.integration_id,
            &update.provider_message_id,
        )
        .await?
        else {
            // The status can overtake our storing of the send's answer: look again shortly.
            return Err(JobFailure::retry("no message with that id yet"));
        };
        let status = match update.status {
            Reported::Sent => DeliveryStatus::Sent,
            Reported::Delivered => DeliveryStatus::Delivered,
            Reported::Read => DeliveryStatus::Read,
            Reported::Failed => DeliveryStatus::Failed,
        };
        if rank(status) <= rank(message.delivery) {
            return Ok(());
        }
        let change = MessageChange {
            delivery: Some(status),
            delivery_error: update.error.clone(),
            if_delivery: Some(message.delivery),
            ..MessageChange::default()
        };
        let txn = crate::db::begin(&s.db).await?;
        match lifecycle::change(&txn, &message, change).await? {
            Some(changed) => {
                txn.commit().await?;
                lifecycle::announce(s, changed).await;
                Ok(())
            }
            None => {
                txn.rollback().await?;
                Err(JobFailure::retry("the message changed meanwhile"))
            }
        }
    }
}
