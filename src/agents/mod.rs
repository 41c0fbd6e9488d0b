//! AI agents: who answers customers (a model, its key, a system prompt) and how (working
//! hours, translation, sentiment alerts and escalation, follow-ups), with the events that
//! managers follow on `agentEvents`.
//!
//! The domain's one public face: what the server wires and what the channels and
//! conversations domains use.

mod config;
mod entity;
mod events;
mod graphql;
mod rest;
mod service;
mod settings;
mod store;

use axum::Router;

use crate::domain::Domain;
use crate::services::Services;

pub use config::AgentsConfig;
pub use events::{AgentEvent, AgentEventKind};
pub use graphql::{
    AgentsMutation as Mutation, AgentsQuery as Query, AgentsSubscription as Subscription,
};
pub use service::{announce, api_key, record_event, report};
pub use settings::AgentSettings;
pub use store::{active_count, counts, get, load, Agent};

pub struct Agents;
pub const DOMAIN: Agents = Agents;

impl Domain for Agents {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }
}
