use async_graphql::{Context, Object, SimpleObject, ID};
use sea_orm::DatabaseConnection;

use super::{api_keys, Caller, Credential, Role, Viewer};
use crate::error::AppResult;
use crate::services::Services;

// What `graphql::ContextExt` gives every other domain's resolvers, read here directly:
// `graphql`'s transports depend on auth, so auth does not depend on `graphql`.
fn viewer<'a>(ctx: &Context<'a>) -> AppResult<&'a Viewer> {
    Caller::of(ctx).viewer()
}

fn db<'a>(ctx: &Context<'a>) -> &'a DatabaseConnection {
    &ctx.data_unchecked::<Services>().db
}

#[derive(SimpleObject)]
#[graphql(name = "Viewer")]
pub struct ViewerInfo {
    pub user_id: String,
    pub organisation_id: String,
    pub role: Role,
    /// Whether this request came with an API key rather than a user's token.
    pub via_api_key: bool,
}

#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to tell keys apart; the secret itself is never shown again.
    pub prefix: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<api_keys::ApiKey> for ApiKey {
    fn from(key: api_keys::ApiKey) -> Self {
        Self {
            id: ID(key.id),
            role: key.role,
            name: key.name,
            prefix: key.prefix,
            created_by: key.created_by,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The secret: shown this once, stored only as a hash.
    pub secret: String,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Who the server takes the caller to be.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<ViewerInfo> {
        let viewer = viewer(ctx)?;
        Ok(ViewerInfo {
            user_id: viewer.user_id.clone(),
            organisation_id: viewer.org_id.clone(),
            role: viewer.role,
            via_api_key: matches!(viewer.credential, Credential::ApiKey { .. }),
        })
    }

    /// The organisation's API keys (admin).
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let keys = api_keys::list(db(ctx), viewer(ctx)?).await?;
        Ok(keys.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an API key for an integrator (admin). The secret is in the answer only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "Role::Manager")] role: Role,
    ) -> async_graphql::Result<CreatedApiKey> {
        let issued = api_keys::create(db(ctx), viewer(ctx)?, &name, role).await?;
        Ok(CreatedApiKey {
            api_key: issued.key.into(),
            secret: issued.secret,
        })
    }

    /// Revokes an API key at once (admin).
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        Ok(api_keys::revoke(db(ctx), viewer(ctx)?, &id).await?.into())
    }
}
