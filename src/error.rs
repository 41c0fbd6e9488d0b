//! The one error type. Every failure a client can see goes through here, so the mapping to
//! GraphQL `extensions.code` and to HTTP statuses lives in exactly one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub type AppResult<T> = Result<T, AppError>;

/// Every `extensions.code` (and REST `code`) the API sends: a closed set (DESIGN.md), named
/// here alone.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const PROVIDER_ERROR: &str = "PROVIDER_ERROR";
    pub const NOT_CONFIGURED: &str = "NOT_CONFIGURED";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Deliberately not `Display`: async-graphql converts any `Display` error into a GraphQL
/// error without a code, and this type must always go through the mapping below.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadInput(String),
    /// A request the transport itself refuses (not JSON, too large, wrong method, no such
    /// route): the status says which.
    BadRequest {
        status: StatusCode,
        message: String,
    },
    Conflict(String),
    Provider(String),
    NotConfigured(String),
    RateLimited {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// An automatic persisted query's hash this server does not know: Apollo clients read
    /// this exact message and code, and send the query with its hash again.
    PersistedQueryNotFound,
    /// The detail is logged, never shown: SQL, paths and secrets stay on the server.
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => code::UNAUTHENTICATED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::BadInput(_) => code::BAD_USER_INPUT,
            // The API's codes are a closed set (DESIGN.md); the status tells these apart.
            Self::BadRequest { status, .. } if *status == StatusCode::NOT_FOUND => code::NOT_FOUND,
            Self::BadRequest { .. } => code::BAD_USER_INPUT,
            Self::Conflict(_) => code::CONFLICT,
            Self::Provider(_) => code::PROVIDER_ERROR,
            Self::NotConfigured(_) => code::NOT_CONFIGURED,
            Self::RateLimited { .. } => code::RATE_LIMITED,
            Self::PersistedQueryNotFound => code::PERSISTED_QUERY_NOT_FOUND,
            Self::Internal(_) => code::INTERNAL,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { status, .. } => *status,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            // Answered inside a GraphQL response, as Apollo's servers do.
            Self::PersistedQueryNotFound => StatusCode::OK,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn bad_request(status: StatusCode, message: impl Into<String>) -> Self {
        Self::BadRequest {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// What a client may read: everything but an internal error's detail.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::BadInput(m)
            | Self::BadRequest { message: m, .. }
            | Self::Conflict(m)
            | Self::Provider(m)
            | Self::NotConfigured(m)
            | Self::RateLimited { message: m, .. } => m,
            Self::PersistedQueryNotFound => "PersistedQueryNotFound",
            Self::Internal(_) => "internal error",
        }
    }

    /// The message a client sees; an internal error's detail is logged here, once.
    pub fn client_message(&self) -> String {
        if let Self::Internal(detail) = self {
            tracing::error!(error = %detail, "internal error");
        }
        self.message().to_string()
    }

    /// For the GraphQL routes: the same status, with a GraphQL response as the body
    /// (`errors[].extensions.code`), which is what GraphQL clients read.
    pub fn into_graphql_response(self) -> Response {
        let status = self.status();
        (status, Json(self.into_graphql_body())).into_response()
    }

    /// A GraphQL response carrying this error alone.
    pub fn into_graphql_body(self) -> async_graphql::Response {
        let error = async_graphql::Error::from(self);
        let mut server_error = async_graphql::ServerError::new(error.message, None);
        server_error.extensions = error.extensions;
        async_graphql::Response::from_errors(vec![server_error])
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(format!("database: {err}"))
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let mut gql = async_graphql::Error::new(err.client_message());
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", err.code());
        if let AppError::RateLimited {
            retry_after_secs: Some(secs),
            ..
        } = &err
        {
            ext.set("retryAfter", *secs);
        }
        gql.extensions = Some(ext);
        gql
    }
}

/// The framework's own refusals (no such route, wrong method, body over the limit) come as
/// plain text or nothing; they get the same JSON as ours, shaped for the route: GraphQL's
/// under `/graphql`, REST's elsewhere.
pub async fn json_error_bodies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let graphql = request.uri().path().starts_with("/graphql");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
        text => text.to_string(),
    };
    let error = AppError::bad_request(status, message);
    let mut response = if graphql {
        error.into_graphql_response()
    } else {
        error.into_response()
    };
    if let Some(allow) = allow {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    response
}

/// REST errors: the status, and a JSON body with FastAPI's `detail` (what the seeds' clients
/// read) plus our `code`.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "detail": self.client_message(), "code": self.code() });
        let mut response = (status, Json(body)).into_response();
        if let AppError::RateLimited {
            retry_after_secs: Some(secs),
            ..
        } = self
        {
            if let Ok(value) = secs.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_persisted_query_is_answered_as_apollo_clients_expect() {
        let body = serde_json::to_value(AppError::PersistedQueryNotFound.into_graphql_body())
            .expect("a response serializes");
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "PERSISTED_QUERY_NOT_FOUND"
        );
    }
}
