//! Shared pieces of the REST routes kept for the seeds' clients.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::input;

/// A JSON body whose every problem (not JSON, wrong shape, too large) is a 4xx with a JSON
/// `detail`, like every other REST error.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|err| AppError::bad_request(err.status(), err.body_text()))?;
        parse(&bytes).map(JsonBody)
    }
}

/// The body as `T`; text holding U+0000 is refused here, before it could reach the database.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let bad = |err: serde_json::Error| {
        AppError::BadInput(format!("body is not the expected JSON: {err}"))
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
    if input::has_nul(&value) {
        return Err(AppError::BadInput(
            "body holds a NUL character (U+0000) in a string".into(),
        ));
    }
    serde_json::from_value(value).map_err(bad)
}
