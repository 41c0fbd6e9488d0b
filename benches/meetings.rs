//! Issue "Meetings" benchmarks.
//!
//! 1. From a status change to the subscriber's frame: one bot followed by 1,000
//!    graphql-transport-ws subscribers on loopback; p50 / p99 over every frame of several
//!    status walks, plus the server's memory per open subscription.
//! 2. How many active bots one sync tick keeps current against a fake bot service on
//!    loopback (unchanged statuses, and every bot changing).
//!
//! `cargo bench --bench meetings` (BENCH_SUBSCRIBERS, BENCH_WALKS, BENCH_BOTS to change it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;
use switchboard::auth::{Caller, Role};
use switchboard::config::Config;
use switchboard::meetings::entity::{bot, status_change};
use switchboard::meetings::service::{change_status, trigger, Transition, TriggerInput};
use switchboard::meetings::{BotStatus, ChangeSource};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The parts of a graphql-transport-ws `next` frame the clients read.
#[derive(serde::Deserialize)]
struct Frame {
    id: Option<String>,
    payload: Option<Payload>,
}

#[derive(serde::Deserialize)]
struct Payload {
    data: Data,
}

#[derive(serde::Deserialize)]
struct Data {
    #[serde(rename = "botStatus")]
    bot_status: Change,
}

#[derive(serde::Deserialize)]
struct Change {
    sequence: i64,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn boot(mut config: Config) -> (switchboard::App, std::net::SocketAddr) {
    config.jobs.disabled = true;
    let app = switchboard::build(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (app, addr)
}

fn temp_config(name: &str) -> Config {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    Config::for_tests(&url, &dir)
}

async fn latency() {
    let subscribers = env_or("BENCH_SUBSCRIBERS", 1000);
    let walks = env_or("BENCH_WALKS", 5);
    let mut config = temp_config("latency");
    config.sandbox = true;
    config.auth.jwt_secret = Some("bench-secret-bench-secret-bench!".into());
    let (app, addr) = boot(config).await;
    let services = app.services().clone();
    let token = services
        .jwt
        .issue("bench", Some("bench-org"), Role::Admin, 3600)
        .unwrap();
    let Caller::Known(viewer) = services.auth.from_credential(&token).await else {
        unreachable!()
    };

    // When each (walk, sequence) change was made, as nanoseconds since `base`; clients read it
    // without a lock when the frame arrives and keep their samples to themselves.
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..walks * 16).map(|_| AtomicU64::new(0)).collect());
    let slot = |walk: usize, sequence: i64| walk * 16 + sequence as usize;
    let rss_before = rss_kib();
    let (frames_tx, mut frames_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut connections = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut request = format!("ws://{addr}/graphql/ws")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        // Small buffers, as a browser's would be: tungstenite's default 128 KiB read buffer is
        // zeroed on every read, which would make the clients, not the server, the bottleneck.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .unwrap();
        ws.send(Message::Text(
            json!({"type": "connection_init", "payload": {"token": token}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let ack = ws.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"));
        connections.push(ws);
    }
    let rss_connected = rss_kib();

    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for ws in connections {
        let (writer, mut reader) = ws.split();
        writers.push(writer);
        let sent = sent.clone();
        let frames = frames_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while let Some(Ok(message)) = reader.next().await {
                let arrived = base.elapsed().as_nanos() as u64;
                let Ok(text) = message.to_text() else {
                    continue;
                };
                let Ok(frame) = serde_json::from_str::<Frame>(text) else {
                    continue;
                };
                let (Some(id), Some(payload)) = (frame.id, frame.payload) else {
                    continue;
                };
                let walk: usize = id.parse().unwrap_or(0);
                let at = sent[slot(walk, payload.data.bot_status.sequence)].load(Ordering::Acquire);
                if at > 0 {
                    samples.push((arrived.saturating_sub(at)) as f64 / 1e6);
                }
                let _ = frames.send(walk);
            }
            samples
        }));
    }

    let walk_statuses = [
        BotStatus::Connecting,
        BotStatus::AwaitingAdmission,
        BotStatus::Connected,
        BotStatus::Transcribing,
        BotStatus::AnalyzingMeeting,
        BotStatus::CreatingTasks,
        BotStatus::Done,
    ];
    let mut rss_subscribed = 0;
    for walk in 0..walks {
        // Each walk's bot ends DONE, so one meeting code serves them all.
        let input = TriggerInput {
            meet_url: "https://meet.google.com/abc-defg-hij".into(),
            bot_name: "Bench".into(),
            idempotency_key: None,
        };
        let bot = trigger(&services, &viewer, input).await.unwrap();
        let query = "subscription($id: ID!) { botStatus(botId: $id) { sequence status } }";
        for writer in &mut writers {
            let subscribe = json!({"id": walk.to_string(), "type": "subscribe", "payload": {"query": query, "variables": {"id": bot.id}}});
            writer
                .send(Message::Text(subscribe.to_string().into()))
                .await
                .unwrap();
        }
        // Every subscriber has its first frame (the current state) before the walk starts.
        let mut snapshots = 0;
        while snapshots < subscribers {
            if frames_rx.recv().await == Some(walk) {
                snapshots += 1;
            }
        }
        rss_subscribed = rss_subscribed.max(rss_kib());
        for status in walk_statuses {
            let current = switchboard::meetings::service::load(&services.db, &bot.id)
                .await
                .unwrap();
            sent[slot(walk, current.sequence + 1)]
                .store(base.elapsed().as_nanos() as u64, Ordering::Release);
            change_status(
                &services,
                &bot.id,
                status,
                ChangeSource::Webhook,
                Transition::because("bench"),
            )
            .await
            .unwrap();
            let mut delivered = 0;
            while delivered < subscribers {
                if frames_rx.recv().await == Some(walk) {
                    delivered += 1;
                }
            }
        }
    }
    // Shutting down closes every WebSocket, which ends the readers with their samples.
    app.shutdown_token().cancel();
    drop(writers);
    let mut samples = Vec::new();
    for reader in readers {
        if let Ok(mut mine) = reader.await {
            samples.append(&mut mine);
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    println!("## status change → subscriber frame ({subscribers} WebSocket subscribers on one bot, {walks} walks of {} changes)", walk_statuses.len());
    println!("| frames | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(0.0)
    );
    println!(
        "process memory: {} KiB before, +{} KiB with {subscribers} connections (client and server sides both in this process), +{} KiB more once subscribed",
        rss_before,
        rss_connected.saturating_sub(rss_before),
        rss_subscribed.saturating_sub(rss_connected)
    );
}

async fn fake_bot_service(changing: Arc<std::sync::atomic::AtomicBool>) -> String {
    let router = Router::new()
        .route(
            "/bots/{id}",
            get(move |Path(id): Path<String>| {
                let changing = changing.clone();
                async move {
                    let status = if changing.load(std::sync::atomic::Ordering::Relaxed) {
                        "awaiting_admission"
                    } else {
                        "joining"
                    };
                    Json(json!({"bot_id": id, "status": status}))
                }
            }),
        )
        .route(
            "/bots/start",
            post(|| async { Json(json!({"bot_id": "unused", "status": "initialized"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn sync_capacity() {
    let changing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fake = fake_bot_service(changing.clone()).await;
    println!("## one sync tick against a fake bot service on loopback");
    println!("| active bots | statuses | tick duration ms | bots per second |");
    println!("|---|---|---|---|");
    for bots in [env_or("BENCH_BOTS", 2000), env_or("BENCH_BOTS", 2000) * 2] {
        let mut config = temp_config("sync");
        config.providers.bot_service_url = Some(fake.parse().unwrap());
        let (app, _) = boot(config).await;
        let services = app.services().clone();
        let now = chrono::Utc::now();
        let txn = services.db.begin().await.unwrap();
        for n in 0..bots {
            let id = uuid::Uuid::new_v4().to_string();
            bot::ActiveModel {
                id: Set(id.clone()),
                org_id: Set("bench".into()),
                user_id: Set("bench".into()),
                meet_url: Set(format!("https://zoom.us/j/{}", 100000000 + n)),
                platform: Set("zoom".into()),
                native_meeting_id: Set((100000000 + n).to_string()),
                bot_name: Set("Bench".into()),
                status: Set("connecting".into()),
                sequence: Set(1),
                external_bot_id: Set(Some(format!("ext-{n}"))),
                session_id: Set(None),
                error_message: Set(None),
                result_data: Set(None),
                audio_url: Set(None),
                summary: Set(None),
                idempotency_key: Set(None),
                active_key: Set(Some(format!("bench|zoom|{n}"))),
                status_changed_at: Set(now),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .unwrap();
            status_change::ActiveModel {
                bot_id: Set(id),
                sequence: Set(1),
                status: Set("connecting".into()),
                source: Set("user".into()),
                reason: Set(None),
                at: Set(now),
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        for (label, change) in [("unchanged", false), ("all change", true)] {
            changing.store(change, std::sync::atomic::Ordering::Relaxed);
            let started = Instant::now();
            let report = switchboard::meetings::sync::sync_once(&services)
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!((report.checked, report.failed), (bots, 0));
            println!(
                "| {bots} | {label} | {:.0} | {:.0} |",
                took.as_secs_f64() * 1000.0,
                bots as f64 / took.as_secs_f64()
            );
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        latency().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        sync_capacity().await;
    });
}
