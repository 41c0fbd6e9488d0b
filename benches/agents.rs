//! Issue "Agents and channels" benchmark: inbound Telegram webhook messages per second
//! through the whole pipeline (stored, analysed, answered by the LLM, sent, stored as SENT),
//! with the fake LLM and Telegram on loopback in a process of their own (this binary again,
//! `BENCH_ROLE=fakes`), and whether any message was lost or answered twice.
//!
//! `cargo bench --bench agents` (BENCH_MESSAGES, BENCH_CONNECTIONS, BENCH_JOBS to change
//! it; BENCH_DATABASE_URL=postgres://… for Postgres, an SQLite file otherwise).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard::config::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const BOT_TOKEN: &str = "777000:bench-token";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the fake Telegram was told and asked: the webhook's secret, and the sends by chat
/// (more than one to a chat is a duplicate).
#[derive(Default)]
struct Fake {
    secret: Mutex<String>,
    sent: Mutex<HashMap<String, usize>>,
}

type Shared = Arc<Fake>;

async fn fake_chat() -> Json<Value> {
    Json(
        json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1,
        "model": "bench", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Thanks, we are on it."}}]}),
    )
}

async fn fake_set_webhook(State(fake): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    *fake.secret.lock().unwrap() = body["secret_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Json(json!({"ok": true, "result": true}))
}

async fn fake_secret(State(fake): State<Shared>) -> String {
    fake.secret.lock().unwrap().clone()
}

async fn fake_send(State(fake): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let chat = body["chat_id"].to_string();
    let n = {
        let mut sent = fake.sent.lock().unwrap();
        let entry = sent.entry(chat).or_default();
        *entry += 1;
        sent.len()
    };
    let chat = match &body["chat_id"] {
        Value::String(id) => id.parse::<i64>().map(Value::from).unwrap_or_default(),
        other => other.clone(),
    };
    Json(json!({"ok": true, "result": {"message_id": n, "date": 1,
        "chat": {"id": chat, "type": "private"}, "text": body["text"]}}))
}

async fn fake_counts(State(fake): State<Shared>) -> Json<Value> {
    let sent = fake.sent.lock().unwrap();
    let duplicated = sent.values().filter(|n| **n > 1).count();
    Json(
        json!({"chats": sent.len(), "sends": sent.values().sum::<usize>(), "duplicated": duplicated}),
    )
}

/// The fake LLM and Telegram, until stdin closes; prints the address first.
async fn fakes() {
    let fake: Shared = Arc::default();
    let router = Router::new()
        .route("/v1/chat/completions", post(fake_chat))
        .route(
            &format!("/bot{BOT_TOKEN}/getMe"),
            post(|| async {
                Json(json!({"ok": true, "result": {"id": 777000, "is_bot": true,
                    "first_name": "Bench", "username": "bench_bot"}}))
            }),
        )
        .route(
            &format!("/bot{BOT_TOKEN}/setWebhook"),
            post(fake_set_webhook),
        )
        .route(&format!("/bot{BOT_TOKEN}/sendMessage"), post(fake_send))
        .route("/counts", get(fake_counts))
        .route("/secret", get(fake_secret))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {}
}

fn temp_config(fakes: SocketAddr) -> Config {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-agents-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let mut config = Config::for_tests(&url, &dir);
    config.providers.openai_base_url = format!("http://{fakes}/v1").parse().unwrap();
    config.providers.openai_api_key = Some("sk-bench".into());
    config.providers.telegram_api_base = format!("http://{fakes}").parse().unwrap();
    // Telegram posts webhooks only to https; the bench posts them itself.
    config.public_base_url = "https://switchboard.bench".parse().unwrap();
    config.jobs.concurrency = env_or("BENCH_JOBS", 64);
    config.database_max_connections = 32;
    config
}

async fn gql(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn bench() {
    let messages = env_or("BENCH_MESSAGES", 5_000);
    let connections = env_or("BENCH_CONNECTIONS", 32);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_ROLE", "fakes")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let fakes: SocketAddr = lines.next_line().await.unwrap().unwrap().parse().unwrap();

    let config = temp_config(fakes);
    let postgres = config.is_postgres();
    let app = switchboard::build(config).await.unwrap();
    let token = app
        .services()
        .jwt
        .issue("bench", Some("bench"), switchboard::auth::Role::Admin, 3600)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.serve(listener));

    let client = reqwest::Client::new();
    let agent = gql(
        &client,
        addr,
        &token,
        "mutation { createAgent(input: {name: \"Bench\", systemPrompt: \"You help.\"}) { id } }",
        json!({}),
    )
    .await;
    let agent = agent["data"]["createAgent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let connected = gql(
        &client,
        addr,
        &token,
        "mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }",
        json!({"input": {"agentId": agent, "kind": "TELEGRAM", "name": "Bench",
            "telegram": {"botToken": BOT_TOKEN, "mode": "WEBHOOK"}}}),
    )
    .await;
    let integration = connected["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"))
        .to_string();
    let secret = client
        .get(format!("http://{fakes}/secret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Each message from a customer of its own, so that each is one conversation's first.
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..connections {
        let (client, next, secret) = (client.clone(), next.clone(), secret.clone());
        let url = format!("http://{addr}/webhooks/telegram/{integration}");
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= messages {
                    return;
                }
                let update = json!({"update_id": n, "message": {"message_id": n,
                    "from": {"id": 10_000 + n, "is_bot": false, "first_name": "C"},
                    "chat": {"id": 10_000 + n, "type": "private"}, "date": 1, "text": "Where is my order?"}});
                let status = client
                    .post(&url)
                    .header("x-telegram-bot-api-secret-token", &secret)
                    .json(&update)
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                assert_eq!(status.ok(), Some(200));
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let accepted = started.elapsed();
    let counts_url = format!("http://{fakes}/counts");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let counts: Value = client
            .get(&counts_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if counts["chats"].as_u64() == Some(messages as u64) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answered = started.elapsed();
    // Whatever was still in flight settles before the duplicates are counted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts: Value = client
        .get(&counts_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lost = messages as u64 - counts["chats"].as_u64().unwrap_or(0);
    println!(
        "agents pipeline ({}): {messages} webhook messages over {connections} connections, \
         accepted in {:.2} s ({:.0}/s), all answered and sent in {:.2} s: {:.0} messages/s; \
         lost {lost}, duplicated {}",
        if postgres { "Postgres" } else { "SQLite" },
        accepted.as_secs_f64(),
        messages as f64 / accepted.as_secs_f64(),
        answered.as_secs_f64(),
        messages as f64 / answered.as_secs_f64(),
        counts["duplicated"],
    );
    shutdown.cancel();
    let _ = server.await;
    stdin.shutdown().await.ok();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("BENCH_ROLE").as_deref() == Ok("fakes") {
        runtime.block_on(fakes());
        return;
    }
    runtime.block_on(bench());
}
