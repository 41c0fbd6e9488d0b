//! A worker process: opens its share of the connections, subscribes each to its bots' status,
//! says `{"ready": …}` on stdout once every subscription has its first frame, then, told on
//! stdin when and to which sequence each bot was stopped, waits for the frames and reports
//! `{"report": …}`: each final frame's latency, and the events lost and duplicated by
//! sequence number, per subscription.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The first line on a worker's stdin.
#[derive(Serialize, Deserialize)]
pub struct Assignment {
    pub addr: SocketAddr,
    pub token: String,
    /// Each connection's bots: `bots[(connection * per + j) % bots.len()]`.
    pub bots: Vec<String>,
    pub first: usize,
    pub count: usize,
    pub per: usize,
    /// How long the connections may take to open and subscribe; those not ready by then fail.
    pub setup_secs: u64,
    pub wait_secs: u64,
}

/// The second: each bot's stop, as `(unix ns just before the mutation, its final sequence)`.
#[derive(Serialize, Deserialize)]
pub struct Stops {
    pub stops: HashMap<String, (u128, i64)>,
}

#[derive(Serialize, Deserialize, Default)]
pub struct Report {
    pub connections: usize,
    pub failed_connections: usize,
    pub subscriptions: usize,
    /// Microseconds from each stop to each subscriber's frame of its final sequence.
    pub latencies_us: Vec<u64>,
    pub lost: u64,
    pub duplicated: u64,
    pub errors: Vec<String>,
}

const QUERY: &str = "subscription($id: ID!) { botStatus(botId: $id) { sequence status } }";

/// One subscription's frames: (sequence, unix ns of receipt).
struct Followed {
    bot: String,
    frames: Vec<(i64, u128)>,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Socket, value: Value) -> Result<(), String> {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// The next JSON frame, answering pings.
async fn next(ws: &mut Socket) -> Result<Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if value["type"] == "ping" {
                    send(ws, json!({"type": "pong"})).await?;
                    continue;
                }
                return Ok(value);
            }
            Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".into()),
        }
    }
}

/// Opens, authenticates and subscribes; the socket and its subscriptions once each has a frame.
async fn open(
    addr: SocketAddr,
    token: &str,
    bots: &[String],
) -> Result<(Socket, Vec<Followed>), String> {
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().map_err(|_| "header")?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    send(
        &mut ws,
        json!({"type": "connection_init", "payload": {"token": token}}),
    )
    .await?;
    let ack = next(&mut ws).await?;
    if ack["type"] != "connection_ack" {
        return Err(format!("not acknowledged: {ack}"));
    }
    let mut followed = Vec::new();
    for (j, bot) in bots.iter().enumerate() {
        send(&mut ws, json!({"id": j.to_string(), "type": "subscribe", "payload": {"query": QUERY, "variables": {"id": bot}}})).await?;
        followed.push(Followed {
            bot: bot.clone(),
            frames: Vec::new(),
        });
    }
    let mut waiting = bots.len();
    while waiting > 0 {
        let frame = next(&mut ws).await?;
        if record(&mut followed, &frame)? == Some(true) {
            waiting -= 1;
        }
    }
    Ok((ws, followed))
}

/// Files a `next` frame under its subscription: Some(first frame?), None for other frames;
/// an `error` frame is an error.
fn record(followed: &mut [Followed], frame: &Value) -> Result<Option<bool>, String> {
    let at = now_ns();
    let index = frame["id"].as_str().and_then(|id| id.parse::<usize>().ok());
    match (frame["type"].as_str(), index) {
        (Some("next"), Some(j)) if j < followed.len() => {
            let sequence = frame["payload"]["data"]["botStatus"]["sequence"]
                .as_i64()
                .ok_or_else(|| format!("no sequence in {frame}"))?;
            followed[j].frames.push((sequence, at));
            Ok(Some(followed[j].frames.len() == 1))
        }
        (Some("error"), _) => Err(format!("subscription refused: {frame}")),
        _ => Ok(None),
    }
}

/// One connection, from opening to its subscriptions' completion or `done`.
async fn connection(
    addr: SocketAddr,
    token: Arc<str>,
    bots: Vec<String>,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    late: CancellationToken,
    done: CancellationToken,
) -> Result<(Vec<Followed>, Option<String>), String> {
    let opened = tokio::select! {
        opened = async {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            open(addr, &token, &bots).await
        } => opened,
        // Not ready in time (a server out of file descriptors never answers).
        () = late.cancelled() => Err("not opened in time".to_string()),
    };
    let (mut ws, mut followed) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            let _ = ready.send(Err(err.clone()));
            return Err(err);
        }
    };
    let _ = ready.send(Ok(()));
    let mut open_subscriptions = followed.len();
    let mut failure = None;
    while open_subscriptions > 0 {
        let frame = tokio::select! {
            frame = next(&mut ws) => frame,
            () = done.cancelled() => break,
        };
        let recorded = frame.and_then(|frame| {
            if frame["type"] == "complete" {
                open_subscriptions -= 1;
                Ok(None)
            } else {
                record(&mut followed, &frame)
            }
        });
        if let Err(err) = recorded {
            failure = Some(err);
            break;
        }
    }
    let _ = ws.close(None).await;
    Ok((followed, failure))
}

/// Adds one subscription's figures to `report`.
fn judge(followed: &Followed, stops: &Stops, report: &mut Report) {
    let Some(&(stopped_at, last)) = stops.stops.get(&followed.bot) else {
        report
            .errors
            .push(format!("bot {} was not stopped", followed.bot));
        return;
    };
    let first = followed.frames.first().map_or(last, |f| f.0);
    let mut seen = HashSet::new();
    for &(sequence, at) in &followed.frames {
        if !seen.insert(sequence) {
            report.duplicated += 1;
        }
        if sequence == last {
            let latency = at.saturating_sub(stopped_at) / 1_000;
            report.latencies_us.push(latency as u64);
        }
    }
    report.lost += (first..=last).filter(|s| !seen.contains(s)).count() as u64;
}

fn say(value: &impl Serialize) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

pub async fn run() -> anyhow::Result<()> {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let line = stdin.next_line().await?.unwrap_or_default();
    let job: Assignment = serde_json::from_str(&line)?;
    let token: Arc<str> = job.token.clone().into();
    let gate = Arc::new(Semaphore::new(64));
    let late = CancellationToken::new();
    let done = CancellationToken::new();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for c in job.first..job.first + job.count {
        let bots = (0..job.per)
            .map(|j| job.bots[(c * job.per + j) % job.bots.len()].clone())
            .collect();
        tasks.spawn(connection(
            job.addr,
            token.clone(),
            bots,
            gate.clone(),
            ready_tx.clone(),
            late.clone(),
            done.clone(),
        ));
    }
    drop(ready_tx);
    let mut report = Report {
        connections: job.count,
        ..Report::default()
    };
    let setup = tokio::time::sleep(Duration::from_secs(job.setup_secs));
    tokio::pin!(setup);
    let mut unready = job.count;
    while unready > 0 {
        let said = tokio::select! {
            said = ready_rx.recv() => said,
            () = &mut setup => {
                report.failed_connections += unready;
                report.errors.push(format!("{unready} connections not open and subscribed within {} s", job.setup_secs));
                // Those still opening give up.
                late.cancel();
                break;
            }
        };
        unready -= 1;
        match said {
            Some(Ok(())) => {}
            Some(Err(err)) => {
                report.failed_connections += 1;
                if report.errors.len() < 5 {
                    report.errors.push(err);
                }
            }
            None => break,
        }
    }
    say(&json!({"ready": job.count - report.failed_connections}));

    let line = stdin.next_line().await?.unwrap_or_default();
    let stops: Stops = serde_json::from_str(&line)?;
    // Every subscription completes after its bot's final frame; past the wait, what is
    // missing is lost.
    let waited = tokio::time::sleep(Duration::from_secs(job.wait_secs));
    tokio::pin!(waited);
    let mut results = Vec::new();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(result) => results.push(result),
                None => break,
            },
            () = &mut waited, if !done.is_cancelled() => done.cancel(),
        }
    }
    for result in results {
        match result {
            // A connection that failed after opening: what it did not receive is lost.
            Ok(Ok((followed, failure))) => {
                for one in &followed {
                    report.subscriptions += 1;
                    judge(one, &stops, &mut report);
                }
                if let Some(err) = failure.filter(|_| report.errors.len() < 10) {
                    report.errors.push(err);
                }
            }
            // Failed to open: counted when the connections were made.
            Ok(Err(_)) => {}
            Err(err) => report.errors.push(err.to_string()),
        }
    }
    say(&json!({"report": report}));
    Ok(())
}
