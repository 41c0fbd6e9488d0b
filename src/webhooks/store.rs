//! Reads: endpoints, events and the delivery log as their organisation may see them.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{delivery, endpoint, event, EventType};
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::Page;

pub use delivery::Model as Delivery;
pub use endpoint::Model as Endpoint;
pub use event::Model as Event;

/// The event types an endpoint is subscribed to (a stored name no longer known is skipped).
pub fn event_types(endpoint: &Endpoint) -> Vec<EventType> {
    serde_json::from_str::<Vec<serde_json::Value>>(&endpoint.event_types)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| serde_json::from_value(name).ok())
        .collect()
}

pub async fn load_endpoint<C: ConnectionTrait>(conn: &C, id: &str) -> AppResult<Endpoint> {
    endpoint::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

pub async fn endpoint(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Endpoint> {
    let row = load_endpoint(db, &crate::input::id(id, "webhook endpoint")?).await?;
    viewer.owns(&row.org_id, "webhook endpoint")?;
    Ok(row)
}

/// The organisation's endpoints, oldest first (there are a few).
pub async fn endpoints(db: &DatabaseConnection, viewer: &Viewer) -> AppResult<Vec<Endpoint>> {
    Ok(endpoint::Entity::find()
        .filter(endpoint::Column::OrgId.eq(&viewer.org_id))
        .order_by_asc(endpoint::Column::CreatedAt)
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await?)
}

pub async fn load_event<C: ConnectionTrait>(conn: &C, id: &str) -> AppResult<Event> {
    event::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| AppError::not_found("webhook event"))
}

pub async fn event(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<Event> {
    let row = load_event(db, &crate::input::id(id, "webhook event")?).await?;
    viewer.owns(&row.org_id, "webhook event")?;
    Ok(row)
}

pub async fn load_delivery<C: ConnectionTrait>(conn: &C, id: &str) -> AppResult<Option<Delivery>> {
    Ok(delivery::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?)
}

pub async fn delivery_of<C: ConnectionTrait>(
    conn: &C,
    endpoint_id: &str,
    event_id: &str,
) -> AppResult<Option<Delivery>> {
    Ok(delivery::Entity::find()
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(delivery::Column::EventId.eq(event_id))
        .one(conn)
        .await?)
}

/// An endpoint's deliveries (the caller has been checked to own it), newest first.
pub async fn deliveries(
    db: &DatabaseConnection,
    endpoint_id: &str,
    after: Option<(DateTime<Utc>, String)>,
    first: u64,
) -> AppResult<Page<Delivery>> {
    let mut query = delivery::Entity::find().filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(delivery::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(delivery::Column::CreatedAt.eq(at))
                        .add(delivery::Column::Id.lt(id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(delivery::Column::CreatedAt)
        .order_by_desc(delivery::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(rows, first))
}
