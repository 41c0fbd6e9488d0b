//! The integration tests, as one program: the test app builder in `common` compiles once and
//! the suite links once. Every test drives a real server (see `common`); nextest runs each in
//! a process of its own.

mod agents;
mod auth;
mod broadcasts;
mod channels;
mod cli;
mod clients;
mod common;
mod config;
mod conversations;
mod dashboard;
mod db;
mod events;
mod graphql;
mod imports;
mod jobs;
mod load_tool;
mod media;
mod meetings;
mod ops;
mod providers;
mod rotation;
mod sandbox;
mod webhooks;
