//! The schema root: one merged Query, Mutation and Subscription made of each domain's parts.
//! Resolvers reach the shared services and the caller through [`ContextExt`].

pub mod fanout;
mod gateway;
mod health;
pub mod transport;
pub mod websocket;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema, ValidationMode};
use sea_orm::DatabaseConnection;

use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::auth::{Caller, Viewer};
use crate::config::GraphqlConfig;
use crate::error::AppResult;
use crate::meetings::graphql::{
    BotChildren, MeetingsMutation, MeetingsQuery, MeetingsSubscription,
};
use crate::Services;

pub use fanout::{live, Frame};
pub use gateway::Gateway;
pub use health::Health;

#[derive(MergedObject, Default)]
pub struct QueryRoot(health::HealthQuery, AuthQuery, MeetingsQuery);

#[derive(MergedObject, Default)]
pub struct MutationRoot(AuthMutation, MeetingsMutation);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(MeetingsSubscription);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema without any services behind it: enough to print the SDL.
pub fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

pub fn build(services: Services, limits: &GraphqlConfig) -> Gateway {
    let schema = |mode| {
        let mut builder = schema_builder()
            .data(async_graphql::dataloader::DataLoader::new(
                BotChildren {
                    db: services.db.clone(),
                },
                tokio::spawn,
            ))
            .data(services.clone())
            .validation_mode(mode)
            .limit_depth(limits.max_depth)
            .limit_complexity(limits.max_complexity)
            .limit_recursive_depth(limits.max_depth * 2);
        if !limits.introspection {
            builder = builder.disable_introspection();
        }
        builder.finish()
    };
    Gateway::new(
        schema(ValidationMode::Strict),
        schema(ValidationMode::Fast),
        limits.max_aliases,
        limits.keep_alive(),
    )
}

pub trait ContextExt {
    fn services(&self) -> &Services;
    /// The signed-in caller, or UNAUTHENTICATED.
    fn viewer(&self) -> AppResult<&Viewer>;
    fn db(&self) -> &DatabaseConnection {
        &self.services().db
    }
}

impl ContextExt for Context<'_> {
    fn services(&self) -> &Services {
        self.data_unchecked::<Services>()
    }

    fn viewer(&self) -> AppResult<&Viewer> {
        static ANONYMOUS: Caller = Caller::Anonymous;
        self.data_opt::<Caller>().unwrap_or(&ANONYMOUS).viewer()
    }
}
