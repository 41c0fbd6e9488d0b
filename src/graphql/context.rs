//! What resolvers reach through their `Context`: the shared services and the caller.

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::auth::{Caller, Viewer};
use crate::error::AppResult;
use crate::services::Services;

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
        Caller::of(self).viewer()
    }
}
