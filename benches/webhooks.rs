//! Issue "Outgoing webhooks" benchmark: a receiver on loopback subscribed to
//! `bot.status_changed`, and
//! 1. the delay from a bot's status change (the call that makes it) to its signed delivery
//!    arriving, one change at a time (p50 / p99);
//! 2. deliveries per second when many bots change at once (every change of every bot, from
//!    the first change made to the last delivery received), with none lost or repeated.
//!
//! `cargo bench --bench webhooks` (BENCH_CHANGES, BENCH_BOTS, BENCH_JOBS to change it;
//! BENCH_DATABASE_URL=postgres://… for Postgres, an SQLite file otherwise).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{json, Value};
use switchboard::auth::{Caller, Role};
use switchboard::config::Config;
use switchboard::meetings::{
    change_status, trigger, BotStatus, ChangeSource, Transition, TriggerInput,
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When each (bot, sequence) arrived.
type Arrivals = Arc<Mutex<HashMap<(String, i64), Vec<Instant>>>>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = (
        body["data"]["botId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body["data"]["sequence"].as_i64().unwrap_or_default(),
    );
    arrivals.lock().unwrap().entry(key).or_default().push(at);
    "ok"
}

const WALK: [BotStatus; 4] = [
    BotStatus::Connecting,
    BotStatus::AwaitingAdmission,
    BotStatus::Connected,
    BotStatus::Done,
];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn wait_for(arrivals: &Arrivals, key: &(String, i64)) -> Instant {
    loop {
        if let Some(at) = arrivals.lock().unwrap().get(key).and_then(|v| v.first()) {
            return *at;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A Google Meet link of its own for bot `n` (one active bot per meeting).
fn meet_url(mut n: usize) -> String {
    let mut letters = [b'a'; 10];
    for letter in letters.iter_mut().rev() {
        *letter = b'a' + (n % 26) as u8;
        n /= 26;
    }
    let code = std::str::from_utf8(&letters).unwrap_or("abcdefghij");
    format!(
        "https://meet.google.com/{}-{}-{}",
        &code[..3],
        &code[3..7],
        &code[7..]
    )
}

/// Moves `bot` to `status`; its new sequence.
async fn change(services: switchboard::Services, bot: String, status: BotStatus) -> i64 {
    change_status(
        &services,
        &bot,
        status,
        ChangeSource::Webhook,
        Transition::because("bench"),
    )
    .await
    .unwrap()
    .sequence
}

#[tokio::main]
async fn main() {
    let changes = env_or("BENCH_CHANGES", 200);
    let bots = env_or("BENCH_BOTS", 250);
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-webhooks-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let mut config = Config::for_tests(&url, &dir);
    config.sandbox = true;
    config.jobs.concurrency = env_or("BENCH_JOBS", 32);
    // Deliveries run in their own worker; one endpoint takes WEBHOOKS_ENDPOINT_CONCURRENCY.
    config.webhooks.delivery_concurrency = env_or("BENCH_JOBS", 32);
    config.jobs.poll_ms = 500;
    let app = switchboard::build(config).await.unwrap();
    let services = app.services().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener));

    let arrivals: Arrivals = Arc::default();
    let receiver = axum::Router::new()
        .fallback(receive)
        .with_state(arrivals.clone());
    let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks_addr = hooks.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(hooks, receiver).await });

    let token = services
        .jwt
        .issue("bench", Some("bench-org"), Role::Admin, 3600)
        .unwrap();
    let Caller::Known(viewer) = services.auth.from_credential(&token).await else {
        unreachable!()
    };
    let created: Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, eventTypes: [BOT_STATUS_CHANGED]}) { endpoint { id } } }",
            "variables": {"url": format!("http://{hooks_addr}/hooks")}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["errors"].is_null(), "{created}");

    let mut made = 0usize;
    let mut new_bot = || {
        made += 1;
        let input = TriggerInput {
            meet_url: meet_url(made),
            bot_name: "Bench".into(),
            idempotency_key: None,
        };
        let (services, viewer) = (services.clone(), viewer.clone());
        async move { trigger(&services, &viewer, input).await.unwrap().id }
    };

    // 1. One change at a time.
    let mut delays = Vec::with_capacity(changes);
    let mut bot = new_bot().await;
    for i in 0..changes {
        let status = WALK[i % WALK.len()];
        if i > 0 && status == WALK[0] {
            bot = new_bot().await;
        }
        let started = Instant::now();
        let sequence = change(services.clone(), bot.clone(), status).await;
        let arrived = wait_for(&arrivals, &(bot.clone(), sequence)).await;
        delays.push(arrived - started);
    }
    delays.sort_unstable();
    println!(
        "status change -> delivery, {changes} changes one at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        percentile(&delays, 1.0)
    );

    // 2. Many bots changing at once, each walking its statuses.
    arrivals.lock().unwrap().clear();
    let mut ids = Vec::with_capacity(bots);
    for _ in 0..bots {
        ids.push(new_bot().await);
    }
    let started = Instant::now();
    let walkers: Vec<_> = ids
        .iter()
        .cloned()
        .map(|bot| {
            let services = services.clone();
            tokio::spawn(async move {
                for status in WALK {
                    change(services.clone(), bot.clone(), status).await;
                }
            })
        })
        .collect();
    for walker in walkers {
        walker.await.unwrap();
    }
    let written = started.elapsed();
    let expected = bots * WALK.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = arrivals.lock().unwrap().len();
        if got >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrivals = arrivals.lock().unwrap();
    let last = arrivals
        .values()
        .flatten()
        .max()
        .copied()
        .unwrap_or(started);
    let repeated = arrivals.values().filter(|v| v.len() > 1).count();
    let elapsed = last - started;
    println!(
        "{bots} bots x {} changes = {expected} events: written in {:.2} s, delivered {} in {:.2} s = {:.0} deliveries/s; lost {}, repeated {repeated}",
        WALK.len(),
        written.as_secs_f64(),
        arrivals.len(),
        elapsed.as_secs_f64(),
        arrivals.len() as f64 / elapsed.as_secs_f64(),
        expected - arrivals.len().min(expected),
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(0);
}
