//! Outgoing webhooks against a local receiver: signed deliveries verified as a receiver
//! would, retries on the services' clock, ordering, disabling, redelivery, the address
//! checks, and who may do what.

mod access;
mod delivery;
mod domains;
mod messages;
mod receiver;
mod retention;

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::meetings::{self, BotStatus, ChangeSource, Transition};

use crate::common::TestApp;

pub const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url enabled eventTypes } }
}";

pub const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 50) {
  edges { node { id eventId status attempts lastStatusCode lastError responseExcerpt nextAttemptAt deliveredAt } }
} }";

pub const ENDPOINT: &str = "query($id: ID!) { webhookEndpoint(id: $id) {
  id url enabled disabledReason failingSince eventTypes previousSecretExpiresAt
} }";

/// An endpoint of `org` at `url` for `types`, made by its admin: its id and secret.
pub async fn endpoint(app: &TestApp, org: &str, url: &str, types: &[&str]) -> (String, String) {
    let answer = app
        .gql(
            Some(&app.admin(org)),
            CREATE,
            json!({"input": {"url": url, "eventTypes": types, "description": "integrator"}}),
        )
        .await;
    let created = &answer["data"]["createWebhookEndpoint"];
    let id = created["endpoint"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    (
        id.to_string(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

/// The endpoint's delivery log, newest first, as its organisation's admin reads it.
pub async fn deliveries(app: &TestApp, org: &str, endpoint: &str) -> Vec<Value> {
    let answer = app
        .gql(Some(&app.admin(org)), DELIVERIES, json!({"id": endpoint}))
        .await;
    answer["data"]["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// Polls the log until `done` holds for it.
pub async fn deliveries_when(
    app: &TestApp,
    org: &str,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..400 {
        let log = deliveries(app, org, endpoint).await;
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the log never got there: {:?}",
        deliveries(app, org, endpoint).await
    );
}

/// Moves bot `bot` to `status`, as the bot service's sync would.
pub async fn move_bot(app: &TestApp, bot: &str, status: BotStatus) {
    meetings::change_status(
        &app.services,
        bot,
        status,
        ChangeSource::Sync,
        Transition::because("test"),
    )
    .await
    .unwrap();
}
