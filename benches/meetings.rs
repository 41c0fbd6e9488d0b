//! Issue "Meetings" benchmarks.
//!
//! 1. From a status change to the subscriber's frame: 1,000 graphql-transport-ws subscribers
//!    on loopback, in a client process of their own (this binary again,
//!    `BENCH_ROLE=clients`), all following one bot, then each following a bot of its own while
//!    all the bots change; p50 / p99 over every frame of several status walks, the CPU each
//!    side spends per frame, and the server's memory per open subscription.
//! 2. How many active bots one sync tick keeps current against a fake bot service on
//!    loopback (unchanged statuses, and every bot changing).
//!
//! `cargo bench --bench meetings` (BENCH_SUBSCRIBERS, BENCH_WALKS, BENCH_EACH_WALKS,
//! BENCH_RATE, BENCH_BOTS to change it; BENCH_ONLY=latency or sync for one half, switchboard
//! or floor for one row of the one-bot latency, each for the bot-per-subscriber latency).

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
use switchboard::meetings::{change_status, trigger, Transition, TriggerInput};
use switchboard::meetings::{BotStatus, ChangeSource, MeetingPlatform};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

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

/// CPU time of one process: in its own code and in the kernel's (where sending on a socket
/// goes).
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    system: Duration,
}

impl Cpu {
    /// This process's so far.
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |at: usize| -> Duration {
            let ticks: u64 = fields.get(at).and_then(|v| v.parse().ok()).unwrap_or(0);
            Duration::from_millis(ticks * 10)
        };
        Self {
            user: ticks(11),
            system: ticks(12),
        }
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    fn add(&mut self, more: Cpu) {
        self.user += more.user;
        self.system += more.system;
    }

    /// `user + system` microseconds per frame.
    fn per_frame(self, frames: usize) -> String {
        let micros = |d: Duration| d.as_secs_f64() * 1e6 / frames.max(1) as f64;
        format!("{:.1} + {:.1}", micros(self.user), micros(self.system))
    }
}

/// `perf stat --delay=-1 --control=fifo:<path>` counts only the measured windows when
/// BENCH_PERF_FIFO names its control fifo: each change is measured between `enable` and
/// `disable`, so set-up and the final report stay out of the counts.
struct Profiler(Option<std::fs::File>);

impl Profiler {
    fn from_env() -> Self {
        Self(
            std::env::var("BENCH_PERF_FIFO")
                .ok()
                .map(|path| std::fs::OpenOptions::new().write(true).open(path).unwrap()),
        )
    }

    fn command(&mut self, command: &str) {
        use std::io::Write;
        if let Some(fifo) = &mut self.0 {
            fifo.write_all(command.as_bytes()).unwrap();
        }
    }
}

/// Wall-clock nanoseconds: both processes read the same clock.
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

async fn boot(mut config: Config) -> (switchboard::App, std::net::SocketAddr) {
    config.jobs.disabled = true;
    // The clients never answer pings: the first comes after the measured walks are over.
    config.graphql.keep_alive_secs = 30;
    let app = switchboard::build(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    // With no delay, as `App::serve` sets it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
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

/// Which change a `next` frame carries: the walk and, when each subscriber follows a bot of its
/// own, which subscriber's bot (both from the subscription id, `<walk>` or `<walk>-<subscriber>`),
/// and the bot's sequence.
type Position = (usize, Option<usize>, i64);

/// The position a `next` frame carries. Read without a full JSON parse so that the clients
/// cost little next to the server.
fn frame_position(text: &str) -> Option<Position> {
    let after = |key: &str| text.find(key).map(|at| &text[at + key.len()..]);
    let id = after("\"id\":\"")?.split('"').next()?;
    let (walk, subscriber) = match id.split_once('-') {
        Some((walk, subscriber)) => (walk.parse().ok()?, Some(subscriber.parse().ok()?)),
        None => (id.parse().ok()?, None),
    };
    let digits = after("\"sequence\":")?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    Some((walk, subscriber, digits[..end].parse().ok()?))
}

/// One frame from the server at the start of `buffer` (servers do not mask): its opcode,
/// payload and length, once all of it has arrived.
fn server_frame(buffer: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&first, &second) = (buffer.first()?, buffer.get(1)?);
    let (header, length) = match second & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buffer.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buffer.get(2..10)?.try_into().ok()?) as usize,
        ),
        short => (2, short as usize),
    };
    let payload = buffer.get(header..header + length)?;
    Some((first & 0x0f, payload, header + length))
}

/// An unmasked text frame, as servers send.
fn server_text_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        short @ 0..=125 => frame.push(short as u8),
        medium @ 126..=65535 => {
            frame.push(126);
            frame.extend_from_slice(&(medium as u16).to_be_bytes());
        }
        long => {
            frame.push(127);
            frame.extend_from_slice(&(long as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// How many subscribers have each `(walk, sequence)`, whichever bot they follow.
type Counts = Arc<std::sync::Mutex<std::collections::HashMap<(usize, i64), usize>>>;

/// One subscriber's socket, read until the server closes it: each `next` frame's position and
/// arrival time. Once all `subscribers` have a walk's `sequence`, says so on `out`.
fn spawn_reader(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    counts: Counts,
    out: tokio::sync::mpsc::UnboundedSender<String>,
    subscribers: usize,
) -> tokio::task::JoinHandle<Vec<(Position, u64)>> {
    use tokio::io::AsyncReadExt;
    tokio::spawn(async move {
        let mut arrivals = Vec::new();
        let mut buffer = Vec::with_capacity(4096);
        loop {
            if reader.read_buf(&mut buffer).await.unwrap_or(0) == 0 {
                break;
            }
            let arrived = now_ns();
            while let Some((opcode, payload, used)) = server_frame(&buffer) {
                let position = (opcode == 1)
                    .then(|| std::str::from_utf8(payload).ok().and_then(frame_position))
                    .flatten();
                buffer.drain(..used);
                let Some(position) = position else { continue };
                arrivals.push((position, arrived));
                let (walk, _, sequence) = position;
                let mut counts = counts.lock().unwrap();
                let count = counts.entry((walk, sequence)).or_default();
                *count += 1;
                if *count == subscribers {
                    let _ = out.send(format!("frames {walk} {sequence}"));
                }
            }
        }
        arrivals
    })
}

/// A masked text frame, as clients must send.
fn client_text_frame(text: &str) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x81];
    let mut frame = vec![0x81];
    match text.len() {
        short @ 0..=125 => frame.push(0x80 | short as u8),
        medium @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(medium as u16).to_be_bytes());
        }
        long => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(long as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A GraphQL WebSocket connection, initialised, as the plain socket under it: from here on
/// frames are read and written directly, as a browser's native WebSocket would (tungstenite's
/// stream machinery costs the shared cores more than the server's own sending does).
async fn graphql_ws_socket(addr: &str, token: &str) -> tokio::net::TcpStream {
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    // Small buffers, as a browser's would be: tungstenite's default 128 KiB read buffer is
    // zeroed on every read.
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
    let MaybeTlsStream::Plain(socket) = ws.into_inner() else {
        unreachable!("plain ws://")
    };
    socket
}

async fn raw_socket(addr: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.set_nodelay(true).unwrap();
    socket
}

/// A graphql-transport-ws `subscribe` to one bot's status, under subscription `id`.
fn subscribe_message(id: &str, bot_id: &str) -> String {
    let query = "subscription($id: ID!) { botStatus(botId: $id) { sequence status } }";
    json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": {"id": bot_id}}})
        .to_string()
}

/// The subscribers, in a process of their own (as browsers would be), on one thread.
/// Commands arrive on stdin, one per line; progress and, at the end, every frame's arrival
/// time go to stdout.
///
///   connect <addr> <token> <n>  → `connected` (n GraphQL WebSocket connections)
///   connect-raw <addr> <n>      → `connected` (n plain TCP connections)
///   subscribe <walk> <bot id>   → `frames <walk> <sequence>` each time all n have a frame
///   subscribe-each <walk> <bot id>… (n of them: subscriber i follows the i-th bot)
///                               → `frames <walk> <sequence>` each time all n bots' frame of
///                                 that sequence has arrived
///   finish                      → `arrival <walk> <subscriber or -> <sequence> <ns>` lines,
///                                 `cpu <user µs> <system µs> <frames>`, then `done`
async fn clients() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let printer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            stdout.write_all(line.as_bytes()).await.unwrap();
            stdout.write_all(b"\n").await.unwrap();
            stdout.flush().await.unwrap();
        }
    });
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let counts = Counts::default();
    let mut subscribers;
    let mut cpu_at_start = None;
    while let Ok(Some(line)) = commands.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["connect" | "connect-raw", ..] => {
                let (addr, token, n) = match words.as_slice() {
                    ["connect", addr, token, n] => (*addr, Some(*token), *n),
                    ["connect-raw", addr, n] => (*addr, None, *n),
                    other => panic!("unknown command {other:?}"),
                };
                subscribers = n.parse().unwrap();
                for _ in 0..subscribers {
                    let socket = match token {
                        Some(token) => graphql_ws_socket(addr, token).await,
                        None => raw_socket(addr).await,
                    };
                    let (reader, writer) = socket.into_split();
                    writers.push(writer);
                    readers.push(spawn_reader(
                        reader,
                        counts.clone(),
                        out_tx.clone(),
                        subscribers,
                    ));
                }
                cpu_at_start = Some(Cpu::now());
                out_tx.send("connected".into()).unwrap();
            }
            ["subscribe", walk, bot_id] => {
                let frame = client_text_frame(&subscribe_message(walk, bot_id));
                for writer in &mut writers {
                    writer.write_all(&frame).await.unwrap();
                }
            }
            ["subscribe-each", walk, bot_ids @ ..] => {
                assert_eq!(bot_ids.len(), writers.len(), "one bot per subscriber");
                for (subscriber, (writer, bot_id)) in writers.iter_mut().zip(bot_ids).enumerate() {
                    let message = subscribe_message(&format!("{walk}-{subscriber}"), bot_id);
                    writer
                        .write_all(&client_text_frame(&message))
                        .await
                        .unwrap();
                }
            }
            ["finish"] => {
                for mut writer in writers.drain(..) {
                    let _ = writer.shutdown().await;
                }
                let mut arrivals = Vec::new();
                for reader in readers.drain(..) {
                    arrivals.extend(reader.await.unwrap_or_default());
                }
                // Before the report, which is no part of the clients' work.
                let spent = Cpu::now().since(cpu_at_start.unwrap_or_default());
                let frames = arrivals.len();
                for ((walk, subscriber, sequence), at) in arrivals {
                    let subscriber = subscriber.map_or("-".into(), |s| s.to_string());
                    out_tx
                        .send(format!("arrival {walk} {subscriber} {sequence} {at}"))
                        .unwrap();
                }
                out_tx
                    .send(format!(
                        "cpu {} {} {frames}",
                        spent.user.as_micros(),
                        spent.system.as_micros()
                    ))
                    .unwrap();
                out_tx.send("done".into()).unwrap();
                drop(out_tx);
                let _ = printer.await;
                return;
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}

/// The parent's end of the client process.
struct Clients {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Clients {
    fn spawn() -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env("BENCH_ROLE", "clients")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    async fn send(&mut self, command: String) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(command.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Ends the run: how long each frame took from its change (`sent`, by position)
    /// to its subscriber, sorted; the CPU the clients spent, and on how many frames (the
    /// measured ones and the first frame of each subscription).
    async fn finish(
        mut self,
        sent: &std::collections::HashMap<Position, u64>,
    ) -> (Vec<f64>, Cpu, usize) {
        self.send("finish".into()).await;
        let mut samples = Vec::new();
        let mut cpu = Cpu::default();
        let mut frames = 0;
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .unwrap()
                .expect("clients ended");
            if line == "done" {
                break;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["cpu", user, system, read] = words.as_slice() {
                cpu = Cpu {
                    user: Duration::from_micros(user.parse().unwrap_or(0)),
                    system: Duration::from_micros(system.parse().unwrap_or(0)),
                };
                frames = read.parse().unwrap_or(0);
            }
            if let ["arrival", walk, subscriber, sequence, at] = words.as_slice() {
                let key = (
                    walk.parse().unwrap(),
                    subscriber.parse().ok(),
                    sequence.parse().unwrap(),
                );
                let at: u64 = at.parse().unwrap();
                if let Some(sent) = sent.get(&key) {
                    samples.push(at.saturating_sub(*sent) as f64 / 1e6);
                }
            }
        }
        let _ = self.child.wait().await;
        samples.sort_by(|a, b| a.total_cmp(b));
        (samples, cpu, frames)
    }

    async fn expect(&mut self, wanted: &str) {
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .unwrap()
                .expect("clients ended");
            if line == wanted {
                return;
            }
        }
    }
}

/// The statuses of one walk: every status after the bot's first (INITIALIZED) up to DONE.
fn walk_statuses() -> &'static [BotStatus] {
    &BotStatus::ALL[1..=7]
}

/// All subscribers on one bot, then each on a bot of its own; with `only` = "switchboard" or
/// "floor" one row of the first (to profile it alone), with "each" the second alone.
async fn latency(only: &str) {
    if only != "each" {
        latency_one_bot(only).await;
    }
    if matches!(only, "" | "latency" | "each") {
        latency_bot_each().await;
    }
}

/// Every subscriber following one bot, the worst case: each change is a frame to every
/// connection at once. Switchboard's row and the floor's, or with `only` one of them. Their
/// walks alternate, so that the two rows see the same machine: on this shared one the cost
/// of a loopback packet moves by 2x within a day, and rows run one after the other measured
/// different moments as much as different servers.
async fn latency_one_bot(only: &str) {
    let subscribers = env_or("BENCH_SUBSCRIBERS", 1000);
    let walks = env_or("BENCH_WALKS", 10);
    println!("## status change → subscriber frame ({subscribers} subscribers on one bot, {walks} walks of {} changes, the two rows' walks alternating)", walk_statuses().len());
    println!("| server | frames | min ms | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/frame (user + system) | clients' CPU µs/frame (user + system) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // The floor first: Switchboard's memory is read while nothing else is being set up.
    let mut floor = match only {
        "switchboard" => None,
        _ => Some(RawFloor::connect(subscribers).await),
    };
    let mut switchboard = match only {
        "floor" => None,
        _ => Some(Switchboard::connect(subscribers).await),
    };
    let mut profiler = Profiler::from_env();
    for walk in 0..walks {
        if let Some(switchboard) = &mut switchboard {
            switchboard.walk(walk, &mut profiler).await;
        }
        if let Some(floor) = &mut floor {
            floor.walk(walk, &mut profiler).await;
        }
    }
    let mut memory = String::new();
    if let Some(switchboard) = switchboard {
        memory = switchboard.finish("Switchboard").await;
    }
    if let Some(floor) = floor {
        floor.finish().await;
    }
    println!("\n{memory}\n");
}

/// Each subscriber following a bot of its own, as each user's frontend follows the bot it
/// started (the seeds' clients polled their own bot's status), while all the bots change at
/// BENCH_RATE changes a second.
async fn latency_bot_each() {
    let subscribers = env_or("BENCH_SUBSCRIBERS", 1000);
    let walks = env_or("BENCH_EACH_WALKS", 3);
    let rate = env_or("BENCH_RATE", 1000);
    println!("## status change → subscriber frame ({subscribers} subscribers each on a bot of its own, {walks} walks of {} changes to every bot, {rate} changes a second)", walk_statuses().len());
    println!("| server | frames | min ms | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/frame (user + system) | clients' CPU µs/frame (user + system) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut switchboard = Switchboard::connect(subscribers).await;
    let mut profiler = Profiler::from_env();
    for walk in 0..walks {
        switchboard
            .walk_each(walk, rate as f64, &mut profiler)
            .await;
    }
    // Its memory is not reported: before it, the one-bot run left its high-water mark in
    // this process.
    let _memory = switchboard.finish("Switchboard").await;
    println!();
}

fn print_row(
    server: &str,
    samples: &[f64],
    server_cpu: Cpu,
    (clients_cpu, clients_frames): (Cpu, usize),
) {
    println!(
        "| {server} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
        samples.len(),
        samples.first().copied().unwrap_or(0.0),
        percentile(samples, 0.5),
        percentile(samples, 0.9),
        percentile(samples, 0.99),
        samples.last().copied().unwrap_or(0.0),
        server_cpu.per_frame(samples.len()),
        clients_cpu.per_frame(clients_frames),
    );
}

/// What one row measures: when each change was made, and the server's CPU time from then
/// until every subscriber had the change's frame.
struct Measured {
    clients: Clients,
    /// When each `(walk, sequence)` change was made.
    sent: std::collections::HashMap<Position, u64>,
    server_cpu: Cpu,
}

impl Measured {
    fn new(clients: Clients) -> Self {
        Self {
            clients,
            sent: Default::default(),
            server_cpu: Cpu::default(),
        }
    }

    /// Measures the change `make` makes, which is the `sequence`-th of `walk`.
    async fn change(
        &mut self,
        profiler: &mut Profiler,
        (walk, sequence): (usize, i64),
        make: impl std::future::Future<Output = ()>,
    ) {
        profiler.command("enable\n");
        let cpu_before = Cpu::now();
        self.sent.insert((walk, None, sequence), now_ns());
        make.await;
        self.clients
            .expect(&format!("frames {walk} {sequence}"))
            .await;
        self.server_cpu.add(Cpu::now().since(cpu_before));
        profiler.command("disable\n");
    }

    async fn finish(self, server: &str) {
        let (samples, clients_cpu, clients_frames) = self.clients.finish(&self.sent).await;
        print_row(
            server,
            &samples,
            self.server_cpu,
            (clients_cpu, clients_frames),
        );
    }
}

/// Switchboard: GraphQL over WebSocket, each change written to the database and then pushed.
struct Switchboard {
    app: switchboard::App,
    viewer: switchboard::auth::Viewer,
    measured: Measured,
    subscribers: usize,
    /// Resident memory before the connections, once connected, and at most while subscribed.
    rss: (u64, u64, u64),
}

impl Switchboard {
    async fn connect(subscribers: usize) -> Self {
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
        let rss_before = rss_kib();
        let mut clients = Clients::spawn();
        clients
            .send(format!("connect {addr} {token} {subscribers}"))
            .await;
        clients.expect("connected").await;
        let rss_connected = rss_kib();
        Self {
            app,
            viewer,
            measured: Measured::new(clients),
            subscribers,
            rss: (rss_before, rss_connected, 0),
        }
    }

    /// A new bot, followed by every subscriber, walked through its statuses.
    async fn walk(&mut self, walk: usize, profiler: &mut Profiler) {
        let services = self.app.services().clone();
        // Each walk's bot ends DONE, so one meeting code serves them all.
        let input = TriggerInput {
            meet_url: "https://meet.google.com/abc-defg-hij".into(),
            bot_name: "Bench".into(),
            idempotency_key: None,
        };
        let bot = trigger(&services, &self.viewer, input).await.unwrap();
        self.subscribe(walk, format!("subscribe {walk} {}", bot.id))
            .await;
        for &status in walk_statuses() {
            let current = switchboard::meetings::load(&services.db, &bot.id)
                .await
                .unwrap();
            let change = async {
                change_status(
                    &services,
                    &bot.id,
                    status,
                    ChangeSource::Webhook,
                    Transition::because("bench"),
                )
                .await
                .unwrap();
            };
            self.measured
                .change(profiler, (walk, current.sequence + 1), change)
                .await;
        }
    }

    /// Sends the clients' `subscribe` command for `walk` and waits until every subscriber has
    /// its first frame (the current state), and a moment more for the server to settle: the
    /// later subscribers to a bot hand their own executions over to the shared one just after
    /// their first frame.
    async fn subscribe(&mut self, walk: usize, command: String) {
        let clients = &mut self.measured.clients;
        clients.send(command).await;
        clients.expect(&format!("frames {walk} 1")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.rss.2 = self.rss.2.max(rss_kib());
    }

    /// As many new bots as subscribers, each followed by one subscriber (as each frontend
    /// follows its own user's bot), walked through their statuses together: open loop, one
    /// change every `1 / rate` s whether or not the earlier ones have arrived, so that a slow
    /// change delays no later one's start and the queueing it causes is measured.
    async fn walk_each(&mut self, walk: usize, rate: f64, profiler: &mut Profiler) {
        let services = self.app.services().clone();
        let mut bot_ids = Vec::with_capacity(self.subscribers);
        for n in 0..self.subscribers {
            // The walk before left its bots DONE, so the meeting codes come free again.
            let input = TriggerInput {
                meet_url: format!("https://zoom.us/j/{}", 100_000_000 + n),
                bot_name: "Bench".into(),
                idempotency_key: None,
            };
            bot_ids.push(trigger(&services, &self.viewer, input).await.unwrap().id);
        }
        self.subscribe(walk, format!("subscribe-each {walk} {}", bot_ids.join(" ")))
            .await;
        profiler.command("enable\n");
        let cpu_before = Cpu::now();
        let period = Duration::from_secs_f64(1.0 / rate);
        let start = tokio::time::Instant::now();
        let mut changes = tokio::task::JoinSet::new();
        let mut next_at = start;
        for (sequence, &status) in (2..).zip(walk_statuses()) {
            for (subscriber, bot_id) in bot_ids.iter().enumerate() {
                tokio::time::sleep_until(next_at).await;
                next_at += period;
                self.measured
                    .sent
                    .insert((walk, Some(subscriber), sequence), now_ns());
                let (services, bot_id) = (services.clone(), bot_id.clone());
                changes.spawn(async move {
                    let change = Transition::because("bench");
                    change_status(&services, &bot_id, status, ChangeSource::Webhook, change)
                        .await
                        .unwrap();
                });
            }
        }
        while let Some(done) = changes.join_next().await {
            done.unwrap();
        }
        let last = 1 + walk_statuses().len();
        self.measured
            .clients
            .expect(&format!("frames {walk} {last}"))
            .await;
        self.measured.server_cpu.add(Cpu::now().since(cpu_before));
        profiler.command("disable\n");
    }

    /// Prints the row; returns what its memory did.
    async fn finish(self, row: &str) -> String {
        self.measured.finish(row).await;
        self.app.shutdown_token().cancel();
        let (before, connected, subscribed) = self.rss;
        format!(
            "Switchboard's memory: {before} KiB before, +{} KiB with {} connections, +{} KiB more once subscribed",
            connected.saturating_sub(before),
            self.subscribers,
            subscribed.saturating_sub(connected)
        )
    }
}

/// The floor under any server on this machine: the same clients reading the same frames from
/// as many TCP connections, written by nothing but a task per socket with the frame already
/// encoded (no database, no GraphQL, no WebSocket protocol).
struct RawFloor {
    sockets: Vec<tokio::sync::mpsc::UnboundedSender<Arc<[u8]>>>,
    measured: Measured,
}

impl RawFloor {
    async fn connect(subscribers: usize) -> Self {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Clients::spawn();
        clients
            .send(format!("connect-raw {addr} {subscribers}"))
            .await;
        let mut sockets = Vec::new();
        for _ in 0..subscribers {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let (sender, mut frames) = tokio::sync::mpsc::unbounded_channel::<Arc<[u8]>>();
            sockets.push(sender);
            tokio::spawn(async move {
                while let Some(frame) = frames.recv().await {
                    if socket.write_all(&frame).await.is_err() {
                        break;
                    }
                }
            });
        }
        clients.expect("connected").await;
        Self {
            sockets,
            measured: Measured::new(clients),
        }
    }

    /// The frames Switchboard's subscribers get on a walk, written to every socket.
    async fn walk(&mut self, walk: usize, profiler: &mut Profiler) {
        for (sequence, status) in (2..).zip(walk_statuses()) {
            let payload = json!({"data": {"botStatus": {"sequence": sequence, "status": status}}});
            let text = format!(r#"{{"type":"next","id":"{walk}","payload":{payload}}}"#);
            let sockets = &self.sockets;
            let change = async move {
                let frame: Arc<[u8]> = server_text_frame(&text).into();
                for socket in sockets {
                    let _ = socket.send(frame.clone());
                }
            };
            self.measured
                .change(profiler, (walk, sequence), change)
                .await;
        }
    }

    async fn finish(mut self) {
        // The sockets close with their tasks, which ends the clients' reading.
        self.sockets.clear();
        self.measured.finish("raw TCP floor").await;
    }
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
                platform: Set(MeetingPlatform::Zoom),
                native_meeting_id: Set((100000000 + n).to_string()),
                bot_name: Set("Bench".into()),
                status: Set(BotStatus::Connecting),
                sequence: Set(1),
                external_bot_id: Set(Some(format!("ext-{n}"))),
                session_id: Set(None),
                error_message: Set(None),
                result_data: Set(None),
                audio_url: Set(None),
                summary: Set(None),
                idempotency_key: Set(None),
                active_key: Set(Some(format!("bench|zoom|{n}"))),
                remote_ended_at: Set(None),
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
                status: Set(BotStatus::Connecting),
                source: Set(ChangeSource::User),
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
            let report = switchboard::meetings::sync_once(&services).await.unwrap();
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
    if std::env::var("BENCH_ROLE").as_deref() == Ok("clients") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(clients());
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // BENCH_ONLY=latency or BENCH_ONLY=sync runs one half, BENCH_ONLY=switchboard or
    // BENCH_ONLY=floor one latency row (to profile it alone), BENCH_ONLY=each the latency
    // with a bot per subscriber.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let latency_only = matches!(only.as_str(), "latency" | "switchboard" | "floor" | "each");
    runtime.block_on(async {
        if only != "sync" {
            latency(&only).await;
        }
        if !latency_only {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sync_capacity().await;
        }
    });
}
