//! Durable jobs through the real worker, on the configured database.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{TestApp, TestDb};
use async_trait::async_trait;
use switchboard::jobs::{ClaimedJob, JobFailure, JobHandler, JobState, NewJob};

/// Fails its first `failures` runs, then succeeds; counts every run.
struct Flaky {
    kind: &'static str,
    failures: u32,
    runs: Arc<AtomicU32>,
    retry_after: Option<Duration>,
    /// Its failures are waits (for its turn), not failed attempts.
    waits: bool,
}

#[async_trait]
impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.failures && self.waits {
            Err(JobFailure::wait(
                "not my turn yet",
                Duration::from_millis(10),
            ))
        } else if run <= self.failures {
            Err(JobFailure {
                retry_after: self.retry_after,
                ..JobFailure::retry(format!("failure {run}"))
            })
        } else {
            Ok(())
        }
    }
}

fn flaky(kind: &'static str, failures: u32) -> (Arc<Flaky>, Arc<AtomicU32>) {
    let runs = Arc::new(AtomicU32::new(0));
    (
        Arc::new(Flaky {
            kind,
            failures,
            runs: runs.clone(),
            retry_after: None,
            waits: false,
        }),
        runs,
    )
}

async fn wait_for(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&switchboard::jobs::Job) -> bool,
) -> switchboard::jobs::Job {
    for _ in 0..400 {
        let job = app.services.jobs.get(id).await.unwrap().unwrap();
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let job = app.services.jobs.get(id).await.unwrap().unwrap();
    panic!("job {id} never became {what}: {job:?}");
}

async fn wait_for_state(app: &TestApp, id: &str, wanted: JobState) -> switchboard::jobs::Job {
    wait_for(app, id, &format!("{wanted:?}"), |job| job.state == wanted).await
}

#[tokio::test]
async fn a_job_that_fails_twice_then_succeeds_is_retried_to_success() {
    let (handler, runs) = flaky("test.flaky", 2);
    let app = TestApp::builder().job(handler).spawn().await;
    let id = app
        .services
        .jobs
        .enqueue(NewJob::new("test.flaky", serde_json::json!({})).unwrap())
        .await
        .unwrap();
    let job = wait_for_state(&app, &id, JobState::Succeeded).await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("failure 2"));
}

#[tokio::test]
async fn a_job_out_of_attempts_is_dead_with_its_last_error() {
    let (handler, runs) = flaky("test.doomed", 100);
    let app = TestApp::builder().job(handler).spawn().await;
    let id = app
        .services
        .jobs
        .enqueue(
            NewJob::new("test.doomed", serde_json::json!({}))
                .unwrap()
                .max_attempts(3),
        )
        .await
        .unwrap();
    let job = wait_for_state(&app, &id, JobState::Dead).await;
    assert_eq!(job.last_error.as_deref(), Some("failure 3"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "a dead job is not run again"
    );
}

#[tokio::test]
async fn waiting_for_its_turn_does_not_use_up_a_jobs_attempts() {
    let runs = Arc::new(AtomicU32::new(0));
    let handler = Arc::new(Flaky {
        kind: "test.patient",
        failures: 5,
        runs: runs.clone(),
        retry_after: None,
        waits: true,
    });
    let app = TestApp::builder().job(handler).spawn().await;
    let id = app
        .services
        .jobs
        .enqueue(
            NewJob::new("test.patient", serde_json::json!({}))
                .unwrap()
                .max_attempts(2),
        )
        .await
        .unwrap();
    let job = wait_for_state(&app, &id, JobState::Succeeded).await;
    assert_eq!(runs.load(Ordering::SeqCst), 6, "five waits, then the run");
    assert_eq!(job.attempts, 1, "only the run that did the work counts");
}

#[tokio::test]
async fn a_providers_retry_after_is_honoured_over_the_shorter_backoff() {
    let runs = Arc::new(AtomicU32::new(0));
    let handler = Arc::new(Flaky {
        kind: "test.limited",
        failures: 1,
        runs: runs.clone(),
        retry_after: Some(Duration::from_secs(1)),
        waits: false,
    });
    let app = TestApp::builder().job(handler).spawn().await;
    let id = app
        .services
        .jobs
        .enqueue(NewJob::new("test.limited", 1).unwrap())
        .await
        .unwrap();
    let job = wait_for(&app, &id, "queued for a retry", |job| {
        job.state == JobState::Queued && job.attempts == 1
    })
    .await;
    let failed_at = job.updated_at;
    assert!(
        job.run_at - failed_at >= 1000,
        "next run {} ms after the failure",
        job.run_at - failed_at
    );
    let done = wait_for_state(&app, &id, JobState::Succeeded).await;
    assert!(done.updated_at - failed_at >= 1000);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_job_enqueued_before_a_restart_runs_exactly_once_after_it() {
    let db = TestDb::new().await;
    // The first instance takes jobs in but runs none (as if it stopped right after).
    let before = TestApp::builder()
        .db(&db)
        .config(|c| c.jobs.disabled = true)
        .spawn()
        .await;
    let id = before
        .services
        .jobs
        .enqueue(NewJob::new("test.once", "payload").unwrap())
        .await
        .unwrap();
    before.stop().await;

    let (handler, runs) = flaky("test.once", 0);
    let after = TestApp::builder()
        .db(&db)
        .job(handler.clone())
        .spawn()
        .await;
    let second = TestApp::builder().db(&db).job(handler).spawn().await;
    wait_for_state(&after, &id, JobState::Succeeded).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "two instances, one run");
    second.stop().await;
}

#[tokio::test]
async fn many_jobs_across_two_instances_each_run_exactly_once() {
    let db = TestDb::new().await;
    let (handler, runs) = flaky("test.many", 0);
    let a = TestApp::builder()
        .db(&db)
        .job(handler.clone())
        .spawn()
        .await;
    let b = TestApp::builder().db(&db).job(handler).spawn().await;
    let mut ids = vec![];
    for n in 0..40 {
        let queue = if n % 2 == 0 {
            &a.services.jobs
        } else {
            &b.services.jobs
        };
        ids.push(
            queue
                .enqueue(NewJob::new("test.many", n).unwrap())
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        wait_for_state(&a, id, JobState::Succeeded).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 40);
}

#[tokio::test]
async fn a_unique_key_enqueues_one_job_however_often_it_is_asked() {
    let app = TestApp::builder()
        .config(|c| c.jobs.disabled = true)
        .spawn()
        .await;
    let first = app
        .services
        .jobs
        .enqueue(
            NewJob::new("test.unique", 1)
                .unwrap()
                .unique_key("bot-1:pipeline"),
        )
        .await
        .unwrap();
    let again = app
        .services
        .jobs
        .enqueue(
            NewJob::new("test.unique", 2)
                .unwrap()
                .unique_key("bot-1:pipeline"),
        )
        .await
        .unwrap();
    assert_eq!(first, again);
}

/// Sleeps far longer than the shutdown grace.
struct Slow;

#[async_trait]
impl JobHandler for Slow {
    fn kind(&self) -> &'static str {
        "test.slow"
    }
    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_releases_a_job_still_running_without_spending_its_attempt() {
    let db = TestDb::new().await;
    let app = TestApp::builder()
        .db(&db)
        .job(Arc::new(Slow))
        .config(|c| c.shutdown_grace_secs = 0)
        .spawn()
        .await;
    let id = app
        .services
        .jobs
        .enqueue(NewJob::new("test.slow", 1).unwrap())
        .await
        .unwrap();
    wait_for_state(&app, &id, JobState::Running).await;
    let jobs = app.services.jobs.clone();
    app.stop().await;
    let job = jobs.get(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.attempts, 0);
    assert!(job.locked_by.is_none());
}

/// Marks the jobs of `kind` as running their first attempt for an instance that stopped
/// answering long ago.
async fn abandon(app: &TestApp, kind: &str) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let sql = format!(
        "UPDATE jobs SET state = 'running', locked_by = 'gone', locked_at = 0, attempts = 1 \
         WHERE kind = '{kind}'"
    );
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_abandoned_by_a_dead_instance_is_taken_again_after_its_lease() {
    let db = TestDb::new().await;
    let crashed = TestApp::builder()
        .db(&db)
        .job(Arc::new(Slow))
        .config(|c| c.shutdown_grace_secs = 3600)
        .spawn()
        .await;
    let id = crashed
        .services
        .jobs
        .enqueue(NewJob::new("test.lease", 1).unwrap())
        .await
        .unwrap();
    abandon(&crashed, "test.lease").await;
    let (handler, runs) = flaky("test.lease", 0);
    let rescuer = TestApp::builder()
        .db(&db)
        .job(handler)
        .config(|c| c.jobs.lease_secs = 1)
        .spawn()
        .await;
    wait_for_state(&rescuer, &id, JobState::Succeeded).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Records the error each `on_dead` call was given.
struct Mourner {
    deaths: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait]
impl JobHandler for Mourner {
    fn kind(&self) -> &'static str {
        "test.mourned"
    }

    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        Ok(())
    }

    async fn on_dead(&self, job: &ClaimedJob, error: &str) {
        self.deaths
            .lock()
            .unwrap()
            .push(format!("{}: {error}", job.id));
    }
}

#[tokio::test]
async fn a_job_abandoned_on_its_last_attempt_dies_and_its_handler_hears_of_it_once() {
    let db = TestDb::new().await;
    let deaths = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rescuer = TestApp::builder()
        .db(&db)
        .config(|c| c.jobs.lease_secs = 1)
        .job(Arc::new(Mourner {
            deaths: deaths.clone(),
        }))
        .spawn()
        .await;
    // Not due for an hour, so this worker never claims it: the abandoning instance did.
    let id = rescuer
        .services
        .jobs
        .enqueue(
            NewJob::new("test.mourned", 1)
                .unwrap()
                .max_attempts(1)
                .delay(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    abandon(&rescuer, "test.mourned").await;

    let job = wait_for_state(&rescuer, &id, JobState::Dead).await;
    assert_eq!(
        job.last_error.as_deref(),
        Some("abandoned by its worker on the last attempt")
    );
    // Its handler records the death where people look (a bot's ERROR, for the pipeline).
    for _ in 0..100 {
        if !deaths.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        *deaths.lock().unwrap(),
        vec![format!("{id}: abandoned by its worker on the last attempt")],
        "told once, though later sweeps look again"
    );
}

/// Takes `takes` to run; counts the runs begun.
struct Lengthy {
    takes: Duration,
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl JobHandler for Lengthy {
    fn kind(&self) -> &'static str {
        "test.lengthy"
    }

    async fn run(&self, _job: &ClaimedJob) -> Result<(), JobFailure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_job_running_longer_than_its_lease_keeps_it_and_runs_once() {
    let db = TestDb::new().await;
    let runs = Arc::new(AtomicU32::new(0));
    let handler = Arc::new(Lengthy {
        takes: Duration::from_millis(3500),
        runs: runs.clone(),
    });
    // Two instances, so that one sweeping for abandoned jobs would take the other's.
    let first = TestApp::builder()
        .db(&db)
        .job(handler.clone())
        .config(|c| c.jobs.lease_secs = 1)
        .spawn()
        .await;
    let id = first
        .services
        .jobs
        .enqueue(NewJob::new("test.lengthy", 1).unwrap().max_attempts(3))
        .await
        .unwrap();
    wait_for_state(&first, &id, JobState::Running).await;
    let _second = TestApp::builder()
        .db(&db)
        .job(handler)
        .config(|c| c.jobs.lease_secs = 1)
        .spawn()
        .await;
    let job = wait_for_state(&first, &id, JobState::Succeeded).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "run once, never taken over");
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn an_instance_claims_no_more_jobs_than_it_can_run_at_once() {
    let app = TestApp::builder()
        .job(Arc::new(Slow))
        .config(|c| {
            c.jobs.concurrency = 2;
            c.shutdown_grace_secs = 0;
        })
        .spawn()
        .await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            app.services
                .jobs
                .enqueue(NewJob::new("test.slow", n).unwrap())
                .await
                .unwrap(),
        );
    }
    wait_for_state(&app, &ids[0], JobState::Running).await;
    // Several polls later, still two: the rest wait queued for another instance.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = app.services.jobs.counts_by_state().await.unwrap();
    let running = counts
        .iter()
        .find(|(state, _)| state == "running")
        .map_or(0, |(_, n)| *n);
    assert_eq!(running, 2, "{counts:?}");
    app.stop().await;
}
