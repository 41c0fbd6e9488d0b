//! What every HTTP provider client shares: one error shape that keeps the provider's status
//! and Retry-After, and the reading of a JSON answer.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct ProviderError {
    pub service: &'static str,
    /// The HTTP status the provider answered with; `None` for a network failure or timeout.
    pub status: Option<u16>,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            status: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Worth trying again: network trouble, timeouts, 408, 429 and 5xx. Any other 4xx means
    /// the request itself is wrong, and sending it again changes nothing.
    pub fn is_transient(&self) -> bool {
        match self.status {
            None => true,
            Some(status) => status == 408 || status == 429 || status >= 500,
        }
    }

    pub fn describe(&self) -> String {
        match self.status {
            Some(status) => format!("{} answered {status}: {}", self.service, self.message),
            None => format!("{}: {}", self.service, self.message),
        }
    }
}

impl From<ProviderError> for AppError {
    fn from(err: ProviderError) -> Self {
        if err.status == Some(429) {
            return AppError::RateLimited {
                message: err.describe(),
                retry_after_secs: err.retry_after.map(|d| d.as_secs().max(1)),
            };
        }
        AppError::Provider(err.describe())
    }
}

impl From<ProviderError> for crate::jobs::JobFailure {
    fn from(err: ProviderError) -> Self {
        crate::jobs::JobFailure {
            message: err.describe(),
            retry_after: err.retry_after,
            permanent: !err.is_transient(),
        }
    }
}

/// Retry-After in seconds (the form every provider here uses).
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(|secs| Duration::from_secs_f64(secs.clamp(0.0, 3600.0)))
}

/// Sends the request; only a failure to get any answer is an error here.
pub async fn transport(
    service: &'static str,
    request: RequestBuilder,
) -> Result<Response, ProviderError> {
    request.send().await.map_err(|err| no_answer(service, &err))
}

/// A request that got no answer, said without the URL (which may carry credentials).
pub fn no_answer(service: &'static str, err: &reqwest::Error) -> ProviderError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "unreachable"
    } else {
        "request failed"
    };
    ProviderError::new(service, what)
}

/// A non-2xx answer as a [`ProviderError`] carrying a short excerpt of the provider's body
/// (never our credentials).
pub async fn failure(service: &'static str, response: Response) -> ProviderError {
    let status = response.status();
    let retry_after = retry_after(&response);
    let body = response.text().await.unwrap_or_default();
    ProviderError {
        service,
        status: Some(status.as_u16()),
        message: excerpt(&body, status),
        retry_after,
    }
}

/// Sends the request; a non-2xx answer is an error.
pub async fn send(
    service: &'static str,
    request: RequestBuilder,
) -> Result<Response, ProviderError> {
    let response = transport(service, request).await?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(failure(service, response).await)
    }
}

pub async fn json<T: DeserializeOwned>(
    service: &'static str,
    request: RequestBuilder,
) -> Result<T, ProviderError> {
    let response = send(service, request).await?;
    let bytes = response
        .bytes()
        .await
        .map_err(|_| ProviderError::new(service, "connection dropped while reading the answer"))?;
    crate::input::provider_json(&bytes)
        .map_err(|err| ProviderError::new(service, format!("answered with unexpected JSON: {err}")))
}

/// The start of a provider's error body, fit to be stored in an error message.
pub fn excerpt(body: &str, status: StatusCode) -> String {
    let text: String = body.chars().filter(|c| *c != '\0').take(300).collect();
    if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    }
}
