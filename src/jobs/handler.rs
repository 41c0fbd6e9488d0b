//! What a job's handler sees (the claimed job) and answers (success, or how it failed: to be
//! retried, after a wait, for good, or not failed at all but waiting its turn).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::AppError;

/// A job this instance holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// 1 on the first run.
    pub attempt: u32,
    pub max_attempts: u32,
}

impl ClaimedJob {
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobFailure> {
        serde_json::from_value(self.payload.clone()).map_err(|err| {
            JobFailure::permanent(format!("payload does not fit {}: {err}", self.kind))
        })
    }

    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

#[derive(Debug, Clone)]
pub struct JobFailure {
    pub message: String,
    /// The provider said when to come back (HTTP Retry-After).
    pub retry_after: Option<Duration>,
    /// The handler keeps its own schedule: come back after this instead of the queue's
    /// backoff (a Retry-After still wins when it is longer).
    pub retry_in: Option<Duration>,
    /// Retrying cannot help (bad input, out of credits): the job dies now.
    pub permanent: bool,
    /// Not a failure: the job waits its turn (behind an earlier job, for capacity), so this
    /// run does not count as one of its attempts.
    pub waiting: bool,
}

impl JobFailure {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_after: None,
            retry_in: None,
            permanent: false,
            waiting: false,
        }
    }

    /// Retried after exactly `delay` (or a longer `retry_after`), whatever the attempt.
    pub fn retry_in(message: impl Into<String>, delay: Duration) -> Self {
        Self {
            retry_in: Some(delay),
            ..Self::retry(message)
        }
    }

    /// Comes back after `delay` without having used an attempt: see [`JobFailure::waiting`].
    pub fn wait(message: impl Into<String>, delay: Duration) -> Self {
        Self {
            waiting: true,
            ..Self::retry_in(message, delay)
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            ..Self::retry(message)
        }
    }
}

impl From<sea_orm::DbErr> for JobFailure {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::from(err).into()
    }
}

impl From<AppError> for JobFailure {
    fn from(err: AppError) -> Self {
        // The detail of an internal error stays in the log: the message may reach a person
        // (a bot's error message).
        if let AppError::Internal(detail) = &err {
            tracing::warn!(detail, "a job failed on an internal error");
        }
        let message = err.message().to_string();
        match err {
            AppError::RateLimited {
                retry_after_secs, ..
            } => Self {
                retry_after: retry_after_secs.map(Duration::from_secs),
                ..Self::retry(message)
            },
            AppError::Provider(_) | AppError::Internal(_) => Self::retry(message),
            _ => Self::permanent(message),
        }
    }
}

#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &'static str;

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure>;

    /// Called once when the job has failed for the last time, to record the outcome where
    /// people look for it (a bot's error message, say).
    async fn on_dead(&self, _job: &ClaimedJob, _error: &str) {}
}
