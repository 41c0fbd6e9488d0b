//! Conversations: every customer's messages with an agent on one channel, the agent's
//! answers (the reply pipeline), delivery reports, and what managers follow live.
//!
//! The domain's one public face: what the server wires.

mod delivery;
mod entity;
mod events;
mod export;
mod follow_up;
mod graphql;
mod inbound;
mod lifecycle;
mod livechat;
mod reply;
mod rest;
mod service;
mod store;

use std::sync::Arc;

use axum::Router;

use crate::domain::Domain;
use crate::jobs::JobHandler;
use crate::services::Services;

pub use entity::{DeliveryStatus, MessageRole};
pub use events::Message;
pub use graphql::{
    ConversationsMutation as Mutation, ConversationsQuery as Query,
    ConversationsSubscription as Subscription,
};

pub struct Conversations;
pub const DOMAIN: Conversations = Conversations;

impl Domain for Conversations {
    fn routes(&self) -> Router<Services> {
        rest::routes()
    }

    fn job_handlers(&self, services: &Services) -> Vec<Arc<dyn JobHandler>> {
        vec![
            inbound::InboundHandler::handler(services.clone()),
            delivery::DeliveryHandler::handler(services.clone()),
            follow_up::FollowUpHandler::handler(services.clone()),
        ]
    }
}
