//! Events with an order (one bot's statuses, one conversation's messages) reach an endpoint in
//! that order: a delivery waits while an earlier one with its ordering key is pending for the
//! same endpoint, and the one waiting behind a delivery is hurried on when it is over.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entity::{delivery, DeliveryStatus};
use super::outbox;
use super::store::Delivery;
use crate::error::AppResult;
use crate::services::Services;

/// The pending delivery with the same ordering key just before `delivery`'s, if any.
pub(super) async fn earlier_pending<C: ConnectionTrait>(
    conn: &C,
    delivery: &Delivery,
) -> AppResult<Option<Delivery>> {
    let (Some(key), Some(sequence)) = (&delivery.ordering_key, delivery.sequence) else {
        return Ok(None);
    };
    Ok(delivery::Entity::find()
        .filter(delivery::Column::EndpointId.eq(&delivery.endpoint_id))
        .filter(delivery::Column::OrderingKey.eq(key))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(delivery::Column::Sequence.lt(sequence))
        .order_by_desc(delivery::Column::Sequence)
        .one(conn)
        .await?)
}

/// `delivery` is over: the next one waiting behind it with its ordering key goes now.
pub(super) async fn hurry_next<C: ConnectionTrait>(
    s: &Services,
    conn: &C,
    delivery: &Delivery,
) -> AppResult<()> {
    let (Some(key), Some(sequence)) = (&delivery.ordering_key, delivery.sequence) else {
        return Ok(());
    };
    let next = delivery::Entity::find()
        .filter(delivery::Column::EndpointId.eq(&delivery.endpoint_id))
        .filter(delivery::Column::OrderingKey.eq(key))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(delivery::Column::Sequence.gt(sequence))
        .order_by_asc(delivery::Column::Sequence)
        .one(conn)
        .await?;
    if let Some(next) = next {
        s.jobs
            .hurry_on(conn, &outbox::job_key(&next.id, next.round))
            .await?;
    }
    Ok(())
}
