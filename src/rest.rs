//! Shared pieces of the REST routes kept for the seeds' clients.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A JSON body whose every problem (not JSON, wrong shape, too large) is a 4xx with a JSON
/// `detail`, like every other REST error.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|err| AppError::BadInput(format!("could not read the body: {err}")))?;
        parse(&bytes).map(JsonBody)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|err| AppError::BadInput(format!("body is not the expected JSON: {err}")))
}
