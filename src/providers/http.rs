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
    /// Asking again cannot help: the account is out of credit or quota (OpenAI's 429
    /// `insufficient_quota`), or we refused the request ourselves before sending it.
    pub hopeless: bool,
}

impl ProviderError {
    pub fn new(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            status: None,
            message: message.into(),
            retry_after: None,
            hopeless: false,
        }
    }

    /// Refused on our side (a recording too large, a link we will not fetch): said without
    /// a status, since no service answered, and never retried.
    pub fn refused(service: &'static str, message: impl Into<String>) -> Self {
        Self {
            hopeless: true,
            ..Self::new(service, message)
        }
    }

    /// Worth trying again: network trouble, timeouts, 408, 429 and 5xx. Any other 4xx means
    /// the request itself is wrong, and sending it again changes nothing.
    pub fn is_transient(&self) -> bool {
        if self.hopeless {
            return false;
        }
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
        if err.status == Some(429) && !err.hopeless {
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
            retry_after: err.retry_after,
            permanent: !err.is_transient(),
            ..crate::jobs::JobFailure::retry(err.describe())
        }
    }
}

/// Retry-After in seconds (the form every provider here uses).
pub fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        // "NaN" parses, and would panic below.
        .filter(|secs| secs.is_finite())
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
    // Only as much as the excerpt can use: an error page may be endless.
    let body = match read_capped(response, ERROR_BODY_BYTES).await {
        Ok(Capped::Whole(body) | Capped::TooLarge(body)) => body,
        Err(_) => Vec::new(),
    };
    ProviderError {
        service,
        status: Some(status.as_u16()),
        message: excerpt(&String::from_utf8_lossy(&body), status),
        retry_after,
        hopeless: out_of_quota(&body),
    }
}

/// OpenAI's (and its imitators') way of saying the account has run out:
/// `{"error": {"code": "insufficient_quota", …}}`, on a 429 like a rate limit.
fn out_of_quota(body: &[u8]) -> bool {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let error = &answer["error"];
    [&error["code"], &error["type"]]
        .iter()
        .any(|field| field.as_str() == Some("insufficient_quota"))
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
    let bytes = read_answer(service, response).await?;
    crate::input::provider_json(&bytes)
        .map_err(|err| ProviderError::new(service, format!("answered with unexpected JSON: {err}")))
}

/// An answer's body, up to the most any provider's answer is read.
pub async fn read_answer(
    service: &'static str,
    response: Response,
) -> Result<Vec<u8>, ProviderError> {
    match read_capped(response, ANSWER_BYTES).await {
        Ok(Capped::Whole(bytes)) => Ok(bytes),
        Ok(Capped::TooLarge(_)) => Err(ProviderError::new(
            service,
            format!("answered with more than {ANSWER_BYTES} bytes"),
        )),
        Err(_) => Err(ProviderError::new(
            service,
            "connection dropped while reading the answer",
        )),
    }
}

/// The most of an error answer read: a little more than its excerpt keeps.
const ERROR_BODY_BYTES: u64 = 4096;

/// The largest JSON answer read (a long meeting's transcript is a few megabytes).
const ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// A body read up to a limit.
pub enum Capped {
    Whole(Vec<u8>),
    /// The body went on past the limit: its first `limit` bytes, the rest left unread.
    TooLarge(Vec<u8>),
}

/// Reads `response`'s body, stopping at `limit` bytes however much more the sender has.
pub async fn read_capped(mut response: Response, limit: u64) -> Result<Capped, reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok(Capped::TooLarge(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Capped::Whole(body))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: &str, body: reqwest::Body) -> Response {
        axum::http::Response::builder()
            .status(status)
            .header("retry-after", retry_after)
            .body(body)
            .unwrap()
            .into()
    }

    #[tokio::test]
    async fn a_retry_after_that_is_no_number_of_seconds_is_ignored_not_a_panic() {
        for unusable in ["NaN", "nan", "soon", "Wed, 21 Oct 2026 07:28:00 GMT"] {
            let err = failure("bot service", answer(503, unusable, "busy".into())).await;
            assert_eq!(err.retry_after, None, "{unusable}");
            assert_eq!(err.message, "busy");
        }
        let err = failure("bot service", answer(429, "2.5", "".into())).await;
        assert_eq!(err.retry_after, Some(Duration::from_millis(2500)));
        assert_eq!(err.message, "Too Many Requests");
    }

    #[tokio::test]
    async fn an_account_out_of_quota_is_not_asked_again_where_a_rate_limit_is() {
        let quota = r#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
        let exhausted = failure("LLM", answer(429, "1", quota.into())).await;
        assert!(!exhausted.is_transient());
        assert!(matches!(AppError::from(exhausted), AppError::Provider(_)));
        let limited = r#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#;
        let limited = failure("LLM", answer(429, "1", limited.into())).await;
        assert!(limited.is_transient());
        assert!(matches!(
            AppError::from(limited),
            AppError::RateLimited { .. }
        ));
    }

    #[tokio::test]
    async fn an_endless_error_body_is_read_only_as_far_as_its_excerpt_needs() {
        let endless = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(&[b'x'; 1000]))
        });
        let response = answer(503, "1", reqwest::Body::wrap_stream(endless));
        let err = tokio::time::timeout(Duration::from_secs(5), failure("download", response))
            .await
            .expect("reading stops at the cap");
        assert_eq!(err.message, "x".repeat(300));
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_cut_there() {
        let response = answer(200, "0", vec![7u8; 10_000].into());
        match read_capped(response, 4096).await.unwrap() {
            Capped::TooLarge(start) => assert_eq!(start.len(), 4096),
            Capped::Whole(_) => panic!("10,000 bytes are over a 4,096 cap"),
        }
        let response = answer(200, "0", vec![7u8; 4096].into());
        assert!(
            matches!(read_capped(response, 4096).await.unwrap(), Capped::Whole(b) if b.len() == 4096)
        );
    }
}
