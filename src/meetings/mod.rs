//! Meeting bots: a bot joins a call through the bot service, its status is tracked and pushed
//! live, and its recording becomes a transcript, a summary and Jira issues.

pub mod entity;
pub mod events;
pub mod graphql;
pub mod link;
pub mod pipeline;
pub mod rest;
pub mod service;
pub mod status;
pub mod sync;

pub use status::{BotStatus, ChangeSource};
