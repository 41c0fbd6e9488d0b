use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::handler::{ClaimedJob, JobFailure, JobHandler};
use super::{JobQueue, JobState};
use crate::config::JobsConfig;
use crate::db::now_millis;
use crate::db::placeholders;
use crate::error::AppResult;

/// Most jobs one claim takes.
const CLAIM_BATCH: usize = 32;

pub struct Worker {
    db: DatabaseConnection,
    queue: JobQueue,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    config: JobsConfig,
    instance: String,
}

impl Worker {
    pub fn new(db: DatabaseConnection, queue: JobQueue, config: JobsConfig) -> Self {
        Self {
            db,
            queue,
            handlers: HashMap::new(),
            config,
            instance: format!("worker-{}", uuid::Uuid::new_v4()),
        }
    }

    pub fn register(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(handler.kind(), handler);
        self
    }

    /// Runs until `shutdown`; then gives running jobs `grace` to finish and puts the rest
    /// back in the queue for any instance to take.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        if self.handlers.is_empty() {
            return;
        }
        let this = Arc::new(self);
        let wake = this.queue.wake_signal();
        let slots = Arc::new(Semaphore::new(this.config.concurrency));
        let mut running = JoinSet::new();
        let mut next_reclaim = 0i64;
        loop {
            while running.try_join_next().is_some() {}
            if now_millis() >= next_reclaim {
                if let Err(err) = this.reclaim_abandoned().await {
                    tracing::warn!(error = ?err, "could not reclaim abandoned jobs");
                }
                next_reclaim = now_millis() + (this.config.lease_secs as i64 * 1000 / 4).max(1000);
            }
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => slot.expect("semaphore is never closed"),
            };
            // As many jobs as there are free slots, in one statement: one claim at a time
            // held the whole worker to the database's round trips.
            let mut free = vec![slot];
            while free.len() < CLAIM_BATCH {
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => free.push(slot),
                    Err(_) => break,
                }
            }
            match this.claim(free.len()).await {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        let this = this.clone();
                        let slot = free.pop();
                        running.spawn(async move {
                            this.execute(job).await;
                            drop(slot);
                        });
                    }
                }
                Ok(_) => {
                    drop(free);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(this.config.poll_interval()) => {}
                    }
                }
                Err(err) => {
                    drop(free);
                    tracing::warn!(error = ?err, "could not claim a job");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(this.config.poll_interval()) => {}
                    }
                }
            }
        }
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            running.abort_all();
            while running.join_next().await.is_some() {}
            match this.release_held().await {
                Ok(n) => tracing::info!(released = n, "released unfinished jobs at shutdown"),
                Err(err) => tracing::warn!(error = ?err, "could not release jobs at shutdown"),
            }
        }
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), placeholders(self.backend(), sql), values)
    }

    /// The kinds this worker runs, appended to `values`: their placeholders, for `IN (…)`.
    fn kinds_in(&self, values: &mut Vec<Value>) -> String {
        let placeholders: Vec<String> = self
            .handlers
            .keys()
            .map(|kind| {
                values.push(kind.to_string().into());
                format!("${}", values.len())
            })
            .collect();
        placeholders.join(", ")
    }

    /// Up to `most` due jobs, marked running by this instance.
    async fn claim(&self, most: usize) -> AppResult<Vec<ClaimedJob>> {
        let now = now_millis();
        let mut values: Vec<Value> = vec![
            self.instance.clone().into(),
            now.into(),
            self.queue.due_now().into(),
        ];
        let kinds = self.kinds_in(&mut values);
        let lock = match self.backend() {
            DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        // The pick is materialized first: as a plain `IN (subquery)`, Postgres may run the
        // subquery again while it updates and claim more than `most` (seen in broadcasts).
        let sql = format!(
            "WITH picked AS MATERIALIZED (SELECT id FROM jobs WHERE state = 'queued' \
             AND run_at <= $3 AND kind IN ({kinds}) ORDER BY run_at, created_at LIMIT {most} {lock}) \
             UPDATE jobs SET state = 'running', locked_by = $1, locked_at = $2, \
             attempts = attempts + 1, updated_at = $2 \
             WHERE state = 'queued' AND id IN (SELECT id FROM picked) \
             RETURNING id, kind, payload, attempts, max_attempts"
        );
        let rows = self.db.query_all_raw(self.statement(&sql, values)).await?;
        rows.iter().map(claimed_job).collect()
    }

    async fn execute(&self, job: ClaimedJob) {
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempt);
        let run = AssertUnwindSafe(handler.run(&job).instrument(span)).catch_unwind();
        let Some(outcome) = self.holding_lease(&job, run).await else {
            return;
        };
        let outcome = outcome.unwrap_or_else(|_| Err(JobFailure::retry("the job panicked")));
        let recorded = match outcome {
            Ok(()) => {
                metrics::counter!("switchboard_jobs_finished_total", "kind" => job.kind.clone(), "outcome" => "succeeded").increment(1);
                self.finish(&job, JobState::Succeeded, None, None, Run::Counted)
                    .await
            }
            Err(failure) if failure.waiting => {
                let delay = failure.retry_in.unwrap_or_else(|| self.backoff(1));
                let message = Some(failure.message.as_str());
                self.finish(&job, JobState::Queued, message, Some(delay), Run::Uncounted)
                    .await
            }
            Err(failure) if failure.permanent || job.is_last_attempt() => {
                let recorded = self
                    .finish(
                        &job,
                        JobState::Dead,
                        Some(&failure.message),
                        None,
                        Run::Counted,
                    )
                    .await;
                mourn(Some(handler.as_ref()), &job, &failure.message).await;
                recorded
            }
            Err(failure) => {
                let delay = failure
                    .retry_in
                    .unwrap_or_else(|| self.backoff(job.attempt))
                    .max(failure.retry_after.unwrap_or_default());
                tracing::info!(job = %job.id, kind = %job.kind, error = %failure.message, retry_in_ms = delay.as_millis() as u64, "job will be retried");
                let message = Some(failure.message.as_str());
                self.finish(&job, JobState::Queued, message, Some(delay), Run::Counted)
                    .await
            }
        };
        if let Err(err) = recorded {
            tracing::error!(job = %job.id, error = ?err, "could not record a job's outcome");
        }
    }

    /// Runs `work` while renewing this instance's lease on the job, so that a job running
    /// longer than the lease (a long recording's transcription) is not taken for abandoned
    /// and run a second time. `None` if the lease was lost all the same (this instance stalled
    /// past it and another took the job over): the work is dropped, the other run finishes it.
    async fn holding_lease<T>(
        &self,
        job: &ClaimedJob,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let every = Duration::from_millis((self.config.lease_secs * 1000 / 3).max(100));
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(work);
        loop {
            tokio::select! {
                outcome = &mut work => return Some(outcome),
                _ = renewal.tick() => match self.renew(job).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = %job.id, kind = %job.kind, "lost the lease on a running job; another run has it");
                        return None;
                    }
                    // The database is away for a moment: the lease has time left, try again.
                    Err(err) => tracing::warn!(job = %job.id, error = ?err, "could not renew a job's lease"),
                },
            }
        }
    }

    /// Whether this instance still held the job, now for another lease.
    async fn renew(&self, job: &ClaimedJob) -> AppResult<bool> {
        let sql =
            "UPDATE jobs SET locked_at = $1 WHERE id = $2 AND locked_by = $3 AND state = 'running'";
        let values: Vec<Value> = vec![
            now_millis().into(),
            job.id.clone().into(),
            self.instance.clone().into(),
        ];
        let renewed = self.db.execute_raw(self.statement(sql, values)).await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Exponential backoff with ±20 % jitter, so failed jobs do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let base =
            self.config.backoff_ms as f64 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
        let capped = base.min(self.config.backoff_max_secs as f64 * 1000.0);
        let jitter = rand::rng().random_range(0.8..1.2);
        Duration::from_millis((capped * jitter) as u64)
    }

    /// Records an outcome, only while this instance still holds the job; `retry_in` counts from
    /// the very time recorded as the outcome's.
    async fn finish(
        &self,
        job: &ClaimedJob,
        new_state: JobState,
        error: Option<&str>,
        retry_in: Option<Duration>,
        run: Run,
    ) -> AppResult<()> {
        let now = now_millis();
        let run_at = retry_in.map(|delay| self.queue.due_now() + delay.as_millis() as i64);
        let sql = "UPDATE jobs SET state = $1, last_error = COALESCE($2, last_error), \
                   run_at = COALESCE($3, run_at), locked_by = NULL, locked_at = NULL, updated_at = $4, \
                   attempts = attempts - $7 WHERE id = $5 AND locked_by = $6";
        let values: Vec<Value> = vec![
            new_state.to_value().into(),
            error.map(str::to_string).into(),
            run_at.into(),
            now.into(),
            job.id.clone().into(),
            self.instance.clone().into(),
            i32::from(run == Run::Uncounted).into(),
        ];
        self.db.execute_raw(self.statement(sql, values)).await?;
        Ok(())
    }

    /// Jobs whose instance stopped answering (lease expired) go back to the queue, or die
    /// if that was their last attempt, and then their handler records it as for any death.
    async fn reclaim_abandoned(&self) -> AppResult<()> {
        let cutoff = now_millis() - self.config.lease_secs as i64 * 1000;
        let now = now_millis();
        // Only its own kinds: the worker that runs a kind is the one whose handler hears of a
        // death (an instance may run several workers, for different kinds).
        let mut values: Vec<Value> = vec![cutoff.into()];
        let kinds = self.kinds_in(&mut values);
        let last_attempts = format!(
            "SELECT id, kind, payload, attempts, max_attempts FROM jobs WHERE state = 'running' \
             AND locked_at < $1 AND attempts >= max_attempts AND kind IN ({kinds})"
        );
        let rows = self
            .db
            .query_all_raw(self.statement(&last_attempts, values))
            .await?;
        for row in rows {
            let job = claimed_job(&row)?;
            // Conditional, so that of several instances reclaiming it one records its death.
            let dead = "UPDATE jobs SET state = 'dead', last_error = $1, locked_by = NULL, \
                        locked_at = NULL, updated_at = $2 \
                        WHERE id = $3 AND state = 'running' AND locked_at < $4";
            let values = vec![
                ABANDONED.into(),
                now.into(),
                job.id.clone().into(),
                cutoff.into(),
            ];
            let marked = self.db.execute_raw(self.statement(dead, values)).await?;
            if marked.rows_affected() == 1 {
                let handler = self.handlers.get(job.kind.as_str());
                mourn(handler.map(|h| h.as_ref()), &job, ABANDONED).await;
            }
        }
        // Not a last attempt, even one that became abandoned since the query above: the next
        // sweep finds that one.
        let mut values: Vec<Value> = vec![now.into(), cutoff.into()];
        let kinds = self.kinds_in(&mut values);
        let requeue = format!(
            "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_at = NULL, updated_at = $1 \
             WHERE state = 'running' AND locked_at < $2 AND attempts < max_attempts \
             AND kind IN ({kinds})"
        );
        let requeued = self
            .db
            .execute_raw(self.statement(&requeue, values))
            .await?;
        if requeued.rows_affected() > 0 {
            tracing::warn!(
                jobs = requeued.rows_affected(),
                "requeued jobs abandoned by a stopped instance"
            );
        }
        Ok(())
    }

    /// At shutdown: what this instance still holds goes back, the unfinished attempt not
    /// counted.
    async fn release_held(&self) -> AppResult<u64> {
        let sql = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, locked_by = NULL, \
                   locked_at = NULL, updated_at = $1 WHERE state = 'running' AND locked_by = $2";
        let result = self
            .db
            .execute_raw(
                self.statement(sql, vec![now_millis().into(), self.instance.clone().into()]),
            )
            .await?;
        Ok(result.rows_affected())
    }
}

/// A job has died: said in the log and the metrics, and to its handler where this instance
/// has one.
async fn mourn(handler: Option<&dyn JobHandler>, job: &ClaimedJob, error: &str) {
    tracing::warn!(job = %job.id, kind = %job.kind, error, "job is dead");
    metrics::counter!("switchboard_jobs_finished_total", "kind" => job.kind.clone(), "outcome" => "dead").increment(1);
    if let Some(handler) = handler {
        handler.on_dead(job, error).await;
    }
}

/// Whether a run that ended counts as one of the job's attempts (a wait does not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Counted,
    Uncounted,
}

/// Why a job died whose worker stopped answering on its last attempt.
const ABANDONED: &str = "abandoned by its worker on the last attempt";

/// A job row (id, kind, payload, attempts, max_attempts) as its handler sees it.
fn claimed_job(row: &sea_orm::QueryResult) -> AppResult<ClaimedJob> {
    let payload: String = row.try_get("", "payload")?;
    Ok(ClaimedJob {
        id: row.try_get("", "id")?,
        kind: row.try_get("", "kind")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        attempt: row.try_get::<i32>("", "attempts")? as u32,
        max_attempts: row.try_get::<i32>("", "max_attempts")? as u32,
    })
}
