//! Who is calling: a JWT or an API key becomes a [`Viewer`] (organisation, user, role) that
//! every resolver, route and WebSocket connection checks.

pub mod api_keys;
mod config;
pub mod entity;
pub mod graphql;
pub mod jwt;
pub mod webhook;

use axum::http::HeaderMap;
use sea_orm::DatabaseConnection;

use crate::error::{AppError, AppResult};
use crate::services::Services;

pub use config::AuthConfig;
pub use graphql::{AuthMutation as Mutation, AuthQuery as Query};
pub use jwt::JwtKeys;
pub use webhook::{sign as sign_webhook, verify as verify_webhook};

/// Auth adds its GraphQL roots (API keys, the viewer) and nothing else to the server.
pub struct AuthDomain;
pub const DOMAIN: AuthDomain = AuthDomain;
impl crate::domain::Domain for AuthDomain {}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    async_graphql::Enum,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Role {
    /// Read-only.
    Viewer,
    /// Runs the day-to-day work: bots, conversations, broadcasts.
    Manager,
    /// Everything, including API keys and integrations.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> AppResult<Self> {
        match value {
            "viewer" => Ok(Role::Viewer),
            "manager" => Ok(Role::Manager),
            "admin" => Ok(Role::Admin),
            other => Err(AppError::BadInput(format!(
                "unknown role '{other}': expected admin, manager or viewer"
            ))),
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Jwt,
    ApiKey {
        key_id: String,
    },
    /// Not a person: a subscription shared by every subscriber of one organisation and role
    /// (`graphql::fanout`), so it has no user.
    Audience,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub org_id: String,
    pub user_id: String,
    pub role: Role,
    pub credential: Credential,
}

impl Viewer {
    /// Fails with FORBIDDEN unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> AppResult<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this needs the {} role; you have {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// NOT_FOUND (never FORBIDDEN, which would confirm the row exists) unless the row is
    /// this organisation's.
    pub fn owns(&self, org_id: &str, what: &str) -> AppResult<()> {
        if self.org_id == org_id {
            Ok(())
        } else {
            Err(AppError::not_found(what))
        }
    }
}

/// What the request's credentials came to. Anonymous callers may reach public fields
/// (`health`); a credential presented that fails (garbage, expired, revoked) refuses the
/// whole request, public fields included, with what was wrong.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Known(Viewer),
    Rejected(String),
}

impl Caller {
    /// The caller a transport put in a GraphQL request's data; anonymous when none did.
    pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> &'a Caller {
        static ANONYMOUS: Caller = Caller::Anonymous;
        ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
    }

    /// UNAUTHENTICATED when a credential was presented and failed: nothing is answered then.
    pub fn refusal(&self) -> Option<AppError> {
        match self {
            Caller::Rejected(reason) => Some(AppError::Unauthenticated(reason.clone())),
            Caller::Anonymous | Caller::Known(_) => None,
        }
    }

    pub fn viewer(&self) -> AppResult<&Viewer> {
        match self {
            Caller::Known(viewer) => Ok(viewer),
            Caller::Anonymous => Err(AppError::Unauthenticated(
                "sign in: send Authorization: Bearer <token or API key>".into(),
            )),
            Caller::Rejected(reason) => Err(AppError::Unauthenticated(reason.clone())),
        }
    }
}

#[derive(Clone)]
pub struct Authenticator {
    jwt: JwtKeys,
    db: DatabaseConnection,
}

impl Authenticator {
    pub fn new(jwt: JwtKeys, db: DatabaseConnection) -> Self {
        Self { jwt, db }
    }

    /// Reads `Authorization: Bearer …` (a JWT or an API key) or `X-Api-Key`.
    pub async fn from_headers(&self, headers: &HeaderMap) -> Caller {
        match credential_in_headers(headers) {
            Ok(Some(credential)) => self.from_credential(credential).await,
            Ok(None) => Caller::Anonymous,
            Err(reason) => Caller::Rejected(reason.into()),
        }
    }

    /// A bare credential: an API key (they start with `sb_`) or a JWT.
    pub async fn from_credential(&self, credential: &str) -> Caller {
        match self.verify(credential).await {
            Ok(viewer) => Caller::Known(viewer),
            Err(AppError::Unauthenticated(reason)) => Caller::Rejected(reason),
            Err(other) => Caller::Rejected(other.client_message()),
        }
    }

    async fn verify(&self, credential: &str) -> AppResult<Viewer> {
        if credential.starts_with(api_keys::KEY_PREFIX) {
            api_keys::verify(&self.db, credential).await
        } else {
            self.jwt.verify(credential)
        }
    }

    /// For a long-lived connection: whether `credential` still makes the caller it made at
    /// first (`before`), or why not (a token past its expiry, a revoked key). Failing to
    /// check (the database away a moment) is no reason to drop anyone.
    pub async fn recheck(&self, credential: &str, before: &Viewer) -> Result<(), String> {
        match self.verify(credential).await {
            Ok(now) if &now == before => Ok(()),
            Ok(_) => Err("the credential now stands for another caller".into()),
            Err(AppError::Unauthenticated(reason)) => Err(reason),
            Err(other) => {
                tracing::warn!(error = %other.client_message(), "could not check a connection's credential again; it stays");
                Ok(())
            }
        }
    }

    /// The WebSocket `connection_init` payload: `{"Authorization": "Bearer …"}`,
    /// `{"authorization": …}`, `{"token": …}` or `{"headers": {"Authorization": …}}`.
    pub async fn from_init_payload(&self, payload: &serde_json::Value) -> Caller {
        match credential_in_init(payload) {
            Some(credential) => self.from_credential(&credential).await,
            None => Caller::Anonymous,
        }
    }
}

/// The credential a request's headers carry, if any; `Err` when a header is malformed.
pub fn credential_in_headers(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    if let Some(key) = headers.get("x-api-key") {
        return match key.to_str() {
            Ok(key) => Ok(Some(key.trim())),
            Err(_) => Err("X-Api-Key is not valid text"),
        };
    }
    match headers.get(axum::http::header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => match value.to_str().ok().and_then(bearer) {
            Some(token) => Ok(Some(token)),
            None => Err("Authorization must be 'Bearer <token>'"),
        },
    }
}

/// The credential a WebSocket `connection_init` payload carries, if any.
pub fn credential_in_init(payload: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .or_else(|| payload.get("headers").and_then(|h| h.get("Authorization")))
        .and_then(text)
        .map(|value| bearer(&value).map(str::to_owned).unwrap_or(value))
        .or_else(|| payload.get("token").and_then(text))
        .or_else(|| payload.get("apiKey").and_then(text))
        .map(|credential| credential.trim().to_string())
}

/// REST handlers take a `Viewer` argument: the request is refused with 401 and a JSON body
/// unless it carries valid credentials.
impl axum::extract::FromRequestParts<Services> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Services,
    ) -> Result<Self, AppError> {
        state
            .auth
            .from_headers(&parts.headers)
            .await
            .viewer()
            .cloned()
    }
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_so_admin_passes_every_guard() {
        let viewer = |role| Viewer {
            org_id: "o".into(),
            user_id: "u".into(),
            role,
            credential: Credential::Jwt,
        };
        assert!(viewer(Role::Admin).require(Role::Manager).is_ok());
        assert!(viewer(Role::Manager).require(Role::Manager).is_ok());
        let denied = viewer(Role::Viewer).require(Role::Manager).unwrap_err();
        assert_eq!(denied.code(), "FORBIDDEN");
    }

    #[test]
    fn another_organisations_row_looks_missing() {
        let viewer = Viewer {
            org_id: "acme".into(),
            user_id: "u".into(),
            role: Role::Admin,
            credential: Credential::Jwt,
        };
        assert_eq!(
            viewer.owns("globex", "bot").unwrap_err().code(),
            "NOT_FOUND"
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
