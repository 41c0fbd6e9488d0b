//! The schema root: one merged Query, Mutation and Subscription made of each domain's parts,
//! and the transports that serve it. Resolvers reach the shared services and the caller
//! through [`ContextExt`].

pub mod context;
pub mod fanout;
mod gateway;
mod graphiql;
mod health;
pub mod pagination;
pub mod transport;
pub mod websocket;

use async_graphql::{MergedObject, MergedSubscription, Schema, ValidationMode};
use axum::routing::get;
use axum::Router;

use crate::config::GraphqlConfig;
use crate::services::Services;
use crate::{agents, auth, broadcasts, channels, conversations, media, meetings, webhooks};

pub use context::ContextExt;
pub use fanout::{live, Frame};
pub use gateway::Gateway;
pub use health::Health;

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    health::HealthQuery,
    auth::Query,
    meetings::Query,
    agents::Query,
    channels::Query,
    conversations::Query,
    broadcasts::Query,
    media::Query,
    webhooks::Query,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    auth::Mutation,
    meetings::Mutation,
    agents::Mutation,
    channels::Mutation,
    conversations::Mutation,
    broadcasts::Mutation,
    media::Mutation,
    webhooks::Mutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    meetings::Subscription,
    agents::Subscription,
    conversations::Subscription,
    broadcasts::Subscription,
    media::Subscription,
);

/// What the GraphQL transports hold: the services and the schema built on them.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: Gateway,
}

/// `/graphql` (POST, and GET for queries or GraphiQL), `/graphql/ws`, `/graphql/sse`, and
/// GraphiQL's files under `/graphiql/`.
pub fn routes() -> Router<AppState> {
    graphiql::routes()
        .route("/graphql", get(transport::get).post(transport::post))
        .route("/graphql/ws", get(websocket::upgrade))
        .route(
            "/graphql/sse",
            get(transport::sse_get).post(transport::sse_post),
        )
}

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

/// The depth of graphql-js's introspection query (`getIntrospectionQuery()`), which GraphiQL,
/// Apollo's tools and code generators send to learn the schema.
const INTROSPECTION_DEPTH: usize = 15;

pub fn build(services: Services, limits: &GraphqlConfig) -> Gateway {
    let schema = |mode, depth: usize| {
        let mut builder = schema_builder()
            .data(meetings::loader(&services))
            .data(services.clone())
            .validation_mode(mode)
            .limit_depth(depth)
            .limit_complexity(limits.max_complexity)
            .limit_recursive_depth(depth * 2);
        if !limits.introspection {
            builder = builder.disable_introspection();
        }
        builder.finish()
    };
    Gateway::new(
        schema(ValidationMode::Strict, limits.max_depth),
        schema(ValidationMode::Fast, limits.max_depth),
        schema(
            ValidationMode::Strict,
            limits.max_depth.max(INTROSPECTION_DEPTH),
        ),
        limits.max_aliases,
        limits.keep_alive(),
    )
}
