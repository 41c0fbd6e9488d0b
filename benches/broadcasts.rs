//! Issue "Live chat, broadcasts and follow-ups" benchmark: one broadcast to BENCH_RECIPIENTS
//! (100,000) Telegram chats through a fake Bot API in this process, from an integration
//! limited to BENCH_RATE (1,000) messages a second. The server is this binary again in a
//! process of its own (`BENCH_ROLE=server`), which the benchmark kills with SIGKILL once
//! half the messages are out and starts again on the same database. Reported: the rate the
//! fake saw before and after the kill, the server's peak RSS (VmHWM of each process), and
//! every recipient accounted for: received once, or reported UNKNOWN (claimed by the killed
//! process, never resent), none received twice, none lost.
//!
//! `cargo bench --bench broadcasts` (BENCH_RECIPIENTS, BENCH_RATE to change it;
//! BENCH_DATABASE_URL=postgres://… for Postgres, an SQLite file otherwise).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard::config::Config;
use tokio::io::AsyncBufReadExt;

const BOT_TOKEN: &str = "777000:bench-token";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every sendMessage the fake Telegram answered: (chat, when).
type Sent = Arc<Mutex<Vec<(i64, Instant)>>>;

async fn fake_send(State(sent): State<Sent>, Json(body): Json<Value>) -> Json<Value> {
    let chat = match &body["chat_id"] {
        Value::String(id) => id.parse::<i64>().unwrap_or_default(),
        other => other.as_i64().unwrap_or_default(),
    };
    let n = {
        let mut sent = sent.lock().unwrap();
        sent.push((chat, Instant::now()));
        sent.len()
    };
    Json(json!({"ok": true, "result": {"message_id": n, "date": 1,
        "chat": {"id": chat, "type": "private"}, "text": body["text"]}}))
}

async fn fake_telegram(sent: Sent) -> SocketAddr {
    let ok = || async { Json(json!({"ok": true, "result": true})) };
    let router = Router::new()
        .route(
            &format!("/bot{BOT_TOKEN}/getMe"),
            post(|| async {
                Json(json!({"ok": true, "result": {"id": 777000, "is_bot": true,
                    "first_name": "Bench", "username": "bench_bot"}}))
            }),
        )
        .route(&format!("/bot{BOT_TOKEN}/setWebhook"), post(ok))
        .route(&format!("/bot{BOT_TOKEN}/deleteWebhook"), post(ok))
        .route(&format!("/bot{BOT_TOKEN}/sendMessage"), post(fake_send))
        .with_state(sent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The server's role: serve on the database and fake named in the environment; print the
/// address and an admin token; run until killed.
async fn server() {
    let dir = PathBuf::from(std::env::var("BENCH_DIR").unwrap());
    let url = std::env::var("BENCH_DB").unwrap();
    let fake = std::env::var("BENCH_FAKE").unwrap();
    let mut config = Config::for_tests(&url, &dir);
    config.providers.telegram_api_base = format!("http://{fake}").parse().unwrap();
    config.public_base_url = "https://switchboard.bench".parse().unwrap();
    config.channels.telegram_send_rate = env_or("BENCH_RATE", 1000) as u32;
    config.graphql.body_limit = 16 * 1024 * 1024;
    config.broadcasts.poll_ms = 200;
    config.broadcasts.lease_secs = 3;
    config.database_max_connections = 16;
    let app = switchboard::build(config).await.unwrap();
    let token = app
        .services()
        .jwt
        .issue("bench", Some("bench"), switchboard::auth::Role::Admin, 3600)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{} {token}", listener.local_addr().unwrap());
    app.serve(listener).await.unwrap();
}

struct Server {
    child: tokio::process::Child,
    addr: SocketAddr,
    token: String,
}

impl Server {
    async fn start(dir: &std::path::Path, db: &str, fake: SocketAddr) -> Self {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env("BENCH_ROLE", "server")
            .env("BENCH_DIR", dir)
            .env("BENCH_DB", db)
            .env("BENCH_FAKE", fake.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().unwrap();
        let (addr, token) = line.split_once(' ').unwrap();
        Self {
            addr: addr.parse().unwrap(),
            token: token.to_string(),
            child,
        }
    }

    /// The process's peak resident set, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let pid = self.child.id().unwrap_or_default();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    async fn gql(&self, client: &reqwest::Client, query: &str, variables: Value) -> Value {
        client
            .post(format!("http://{}/graphql", self.addr))
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Messages per second between the first and the last of `times`.
fn rate(times: &[Instant]) -> f64 {
    match (times.first(), times.last()) {
        (Some(first), Some(last)) if times.len() > 1 => {
            (times.len() - 1) as f64 / (*last - *first).as_secs_f64()
        }
        _ => 0.0,
    }
}

async fn bench() {
    let recipients = env_or("BENCH_RECIPIENTS", 100_000);
    let limit = env_or("BENCH_RATE", 1000);
    let sent: Sent = Arc::default();
    let fake = fake_telegram(sent.clone()).await;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-broadcasts-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let postgres = db.starts_with("postgres");
    let client = reqwest::Client::new();

    let first = Server::start(&dir, &db, fake).await;
    let agent = first
        .gql(
            &client,
            "mutation { createAgent(input: {name: \"Bench\", systemPrompt: \"You help.\"}) { id } }",
            json!({}),
        )
        .await;
    let agent = agent["data"]["createAgent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let connected = first
        .gql(
            &client,
            "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }",
            json!({"input": {"agentId": agent, "kind": "TELEGRAM", "name": "Bench",
                "telegram": {"botToken": BOT_TOKEN, "mode": "WEBHOOK"}}}),
        )
        .await;
    let integration = connected["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"))
        .to_string();
    let chats: Vec<String> = (1..=recipients as i64)
        .map(|n| (1_000_000 + n).to_string())
        .collect();
    let asked = Instant::now();
    let created = first
        .gql(
            &client,
            "mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id total } }",
            json!({"input": {"agentId": agent, "integrationId": integration,
                "message": "Spring sale!", "recipients": chats}}),
        )
        .await;
    let created_in = asked.elapsed();
    let id = created["data"]["createBroadcast"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();

    // Half way, the server is killed mid-send and started again on the same database.
    while sent.lock().unwrap().len() < recipients / 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let peak_first = first.peak_rss_mib();
    let mut killed = first;
    killed.child.start_kill().unwrap();
    killed.child.wait().await.unwrap();
    let killed_at = Instant::now();
    let second = Server::start(&dir, &db, fake).await;
    let show = "query($id: ID!, $after: Int) { broadcast(id: $id) { status
        progress { counts { pending sending sent failed unknown } }
        recipients(status: UNKNOWN, first: 100, after: $after) {
          edges { cursor node { position recipient } } pageInfo { hasNextPage } } } }";
    let mut peak_second = 0f64;
    let done = loop {
        peak_second = peak_second.max(second.peak_rss_mib());
        let now = second.gql(&client, show, json!({"id": id})).await;
        if now["data"]["broadcast"]["status"] == "COMPLETED" {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut unknown = HashSet::new();
    let mut after: Option<i64> = None;
    loop {
        let page = second
            .gql(&client, show, json!({"id": id, "after": after}))
            .await;
        let recipients = &page["data"]["broadcast"]["recipients"];
        for edge in recipients["edges"].as_array().unwrap() {
            unknown.insert(
                edge["node"]["recipient"]
                    .as_str()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap(),
            );
            after = edge["node"]["position"].as_i64();
        }
        if recipients["pageInfo"]["hasNextPage"] != true {
            break;
        }
    }
    let sent = sent.lock().unwrap().clone();
    let mut by_chat: HashMap<i64, usize> = HashMap::new();
    for (chat, _) in &sent {
        *by_chat.entry(*chat).or_default() += 1;
    }
    let duplicated = by_chat.values().filter(|n| **n > 1).count();
    let lost = (1..=recipients as i64)
        .map(|n| 1_000_000 + n)
        .filter(|chat| !by_chat.contains_key(chat) && !unknown.contains(chat))
        .count();
    let unknown_received = unknown.iter().filter(|c| by_chat.contains_key(c)).count();
    let counts = &done["data"]["broadcast"]["progress"]["counts"];
    let before: Vec<Instant> = sent
        .iter()
        .map(|(_, at)| *at)
        .filter(|at| *at < killed_at)
        .collect();
    let after_kill: Vec<Instant> = sent
        .iter()
        .map(|(_, at)| *at)
        .filter(|at| *at >= killed_at)
        .collect();
    println!(
        "broadcasts ({}): {recipients} recipients at a limit of {limit}/s; created in {:.2} s; \
         rate before the kill {:.1}/s, after the restart {:.1}/s; peak RSS {:.0} MiB (first \
         process) / {:.0} MiB (after restart); SENT {}, UNKNOWN {} ({} of them had arrived), \
         FAILED {}; received {} chats, duplicated {duplicated}, lost {lost}",
        if postgres { "Postgres" } else { "SQLite" },
        created_in.as_secs_f64(),
        rate(&before),
        rate(&after_kill),
        peak_first,
        peak_second,
        counts["sent"],
        counts["unknown"],
        unknown_received,
        counts["failed"],
        by_chat.len(),
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // reqwest comes without a TLS provider; the server installs ring, and so does this.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("BENCH_ROLE").as_deref() == Ok("server") {
        runtime.block_on(server());
        return;
    }
    runtime.block_on(bench());
}
