//! Durable background jobs in one table. Any instance claims a due job with a conditional
//! update (`FOR UPDATE SKIP LOCKED` on Postgres), runs it, and records the outcome; a failure
//! is retried with exponential backoff (or the provider's Retry-After) up to a maximum number
//! of attempts, then the job is dead with its last error. Jobs survive restarts: a job whose
//! instance died is taken again once its lease runs out, and a shutdown releases what it held.
//!
//! When a job is due (`run_at`) is read on the services' [`Clock`], the one the domain rules
//! read, so a follow-up due "five minutes later" runs once a test moves that clock on; leases
//! are about instances being alive and stay on the system's time.

pub mod entity;
mod handler;
mod worker;

use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    Iterable, QueryFilter, Statement,
};
use serde::Serialize;

use crate::clock::Clock;
use crate::db::now_millis;
use crate::error::{AppError, AppResult};

pub use entity::JobState;
pub use handler::{ClaimedJob, JobFailure, JobHandler};
pub use worker::Worker;

pub use entity::Model as Job;

/// A job to enqueue.
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    pub delay: Duration,
    /// Due at this time (on the clock) rather than after `delay`.
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// At most one job ever exists per key: enqueueing it again returns the first one.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: &'static str, payload: impl Serialize) -> AppResult<Self> {
        Ok(Self {
            kind,
            payload: serde_json::to_value(payload).map_err(AppError::internal)?,
            max_attempts: 5,
            delay: Duration::ZERO,
            run_at: None,
            unique_key: None,
        })
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn run_at(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }
}

#[derive(Clone)]
pub struct JobQueue {
    db: DatabaseConnection,
    /// One signal for each of this instance's workers (an instance may run several, each for
    /// its own kinds): a job enqueued wakes them all, and each claims what is its own.
    wake: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<tokio::sync::Notify>>>>,
    clock: Clock,
}

impl JobQueue {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        Self {
            db,
            wake: Default::default(),
            clock,
        }
    }

    /// Now on the clock that decides when jobs are due, in milliseconds.
    pub(crate) fn due_now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Enqueues on `conn`, which may be the transaction that makes the change the job
    /// belongs to: the job exists exactly when the change does. Call [`JobQueue::wake`] after
    /// the commit so a local worker starts at once.
    pub async fn enqueue_on<C: ConnectionTrait>(&self, conn: &C, job: NewJob) -> AppResult<String> {
        let now = now_millis();
        let run_at = job.run_at.map_or_else(
            || self.due_now() + job.delay.as_millis() as i64,
            |at| at.timestamp_millis(),
        );
        let id = uuid::Uuid::new_v4().to_string();
        let model = entity::ActiveModel {
            id: Set(id.clone()),
            kind: Set(job.kind.to_string()),
            payload: Set(job.payload.to_string()),
            state: Set(JobState::Queued),
            attempts: Set(0),
            max_attempts: Set(job.max_attempts as i32),
            run_at: Set(run_at),
            locked_by: Set(None),
            locked_at: Set(None),
            last_error: Set(None),
            unique_key: Set(job.unique_key.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let inserted = entity::Entity::insert(model)
            .on_conflict(
                OnConflict::column(entity::Column::UniqueKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        if inserted == 0 {
            let key = job.unique_key.unwrap_or_default();
            let existing = entity::Entity::find()
                .filter(entity::Column::UniqueKey.eq(key))
                .one(conn)
                .await?
                .ok_or_else(|| {
                    AppError::internal("job insert conflicted but no job holds the key")
                })?;
            return Ok(existing.id);
        }
        Ok(id)
    }

    pub async fn enqueue(&self, job: NewJob) -> AppResult<String> {
        let id = self.enqueue_on(&self.db, job).await?;
        self.wake();
        Ok(id)
    }

    /// Makes the queued job holding `unique_key` due now, on `conn` (the transaction that
    /// made it needed sooner): a job waiting its turn behind another that has just finished.
    pub async fn hurry_on<C: ConnectionTrait>(&self, conn: &C, unique_key: &str) -> AppResult<()> {
        let now = self.due_now();
        entity::Entity::update_many()
            .col_expr(entity::Column::RunAt, Expr::value(now))
            .filter(entity::Column::UniqueKey.eq(unique_key))
            .filter(entity::Column::State.eq(JobState::Queued))
            .filter(entity::Column::RunAt.gt(now))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Tells this instance's workers that a job is waiting.
    pub fn wake(&self) {
        for worker in self.wake.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            worker.notify_one();
        }
    }

    /// A new worker's wake-up signal.
    pub(crate) fn wake_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        let signal = std::sync::Arc::new(tokio::sync::Notify::new());
        self.wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(signal.clone());
        signal
    }

    pub async fn get(&self, id: &str) -> AppResult<Option<Job>> {
        Ok(entity::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?)
    }

    /// How many jobs are in each state, for `/metrics`.
    pub async fn counts_by_state(&self) -> AppResult<Vec<(String, i64)>> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state",
            ))
            .await?;
        let mut counts: Vec<(String, i64)> = JobState::iter()
            .map(|state| (state.to_value(), 0))
            .collect();
        for row in rows {
            let state: String = row.try_get("", "state")?;
            let n: i64 = row.try_get("", "n")?;
            match counts.iter_mut().find(|(s, _)| *s == state) {
                Some(entry) => entry.1 = n,
                None => counts.push((state, n)),
            }
        }
        Ok(counts)
    }
}

/// Enqueues a job of `kind` at start-up and then every hour until `shutdown`: one job an hour
/// however many instances ask (its unique key is the hour). For periodic sweeps (retention).
pub async fn enqueue_hourly(
    queue: JobQueue,
    kind: &'static str,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let key = format!("{kind}:{}", chrono::Utc::now().format("%Y-%m-%dT%H"));
        let job =
            NewJob::new(kind, serde_json::json!({})).map(|job| job.unique_key(key).max_attempts(3));
        if let Err(err) = match job {
            Ok(job) => queue.enqueue(job).await.map(drop),
            Err(err) => Err(err),
        } {
            tracing::warn!(kind, error = ?err, "could not schedule an hourly job");
        }
    }
}
