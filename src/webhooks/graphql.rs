//! Outgoing webhooks in the GraphQL API: thin resolvers over `service`.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::entity::{DeliveryStatus, EventType};
use super::service::{self, EndpointChange, NewEndpoint};
use super::store;
use crate::graphql::context::ContextExt;
use crate::graphql::pagination;
use crate::secrets::Secret;

/// Where an organisation's events are pushed, signed the Standard Webhooks way.
#[derive(SimpleObject)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it was disabled, when it was for failing too long.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs alongside.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<store::Endpoint> for WebhookEndpoint {
    fn from(row: store::Endpoint) -> Self {
        Self {
            event_types: store::event_types(&row),
            id: ID(row.id),
            url: row.url,
            description: row.description,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            previous_secret_expires_at: row.previous_secret_expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An endpoint with its signing secret, answered only when the secret is made.
#[derive(SimpleObject)]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: shown this once; keep it where the receiver can read it.
    pub secret: String,
}

impl From<(store::Endpoint, Secret)> for WebhookEndpointWithSecret {
    fn from((row, secret): (store::Endpoint, Secret)) -> Self {
        Self {
            endpoint: row.into(),
            secret: secret.expose().to_string(),
        }
    }
}

/// One event on its way to one endpoint: the delivery log.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    pub id: ID,
    pub endpoint_id: ID,
    /// The `webhook-id` of every attempt, redeliveries included.
    pub event_id: ID,
    pub status: DeliveryStatus,
    /// Attempts since it was (re)delivered.
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The start of the endpoint's last answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<store::Delivery> for WebhookDelivery {
    fn from(row: store::Delivery) -> Self {
        Self {
            id: ID(row.id),
            endpoint_id: ID(row.endpoint_id),
            event_id: ID(row.event_id),
            status: row.status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            response_excerpt: row.response_excerpt,
            next_attempt_at: row.next_attempt_at,
            last_attempt_at: row.last_attempt_at,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// https (plain http and private addresses only with WEBHOOKS_ALLOW_PRIVATE).
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    /// Enabling an endpoint disabled for failing forgets its failures.
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The organisation's webhook endpoints (admins).
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let rows = service::endpoints(ctx.services(), ctx.viewer()?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpoint> {
        Ok(service::endpoint(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// An endpoint's deliveries, newest first (admins).
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, WebhookDelivery, EmptyFields, EmptyFields>> {
        let viewer = ctx.viewer()?;
        let first = pagination::page_size(first)?;
        let after = after.as_deref().map(pagination::decode).transpose()?;
        let has_previous = after.is_some();
        let page = service::deliveries(ctx.services(), viewer, &endpoint_id, after, first).await?;
        let mut connection = Connection::new(has_previous, page.has_next);
        for row in page.items {
            connection.edges.push(Edge::new(
                pagination::encode(row.created_at, &row.id),
                row.into(),
            ));
        }
        Ok(connection)
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Registers an endpoint (admins); its signing secret is answered this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let new = NewEndpoint {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
        };
        Ok(service::create(ctx.services(), ctx.viewer()?, new)
            .await?
            .into())
    }

    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let change = EndpointChange {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
            enabled: input.enabled,
        };
        Ok(service::update(ctx.services(), ctx.viewer()?, &id, change)
            .await?
            .into())
    }

    /// A new signing secret, answered this once; the old one signs alongside for 24 hours.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        Ok(service::rotate(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// Deletes the endpoint with its delivery log.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpoint> {
        Ok(service::delete(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// Sends an event to an endpoint again, with the same event id.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        endpoint_id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        Ok(
            service::redeliver(ctx.services(), ctx.viewer()?, &event_id, &endpoint_id)
                .await?
                .into(),
        )
    }
}
