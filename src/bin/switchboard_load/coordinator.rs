//! The coordinator: triggers the bots, starts the workers, stops the bots once every
//! subscriber is in place, merges the workers' reports and prints them.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::worker::{Assignment, Report, Stops};
use super::Run;

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// The next JSON line carrying `key`.
    async fn said(&mut self, key: &str) -> anyhow::Result<Value> {
        while let Some(line) = self.stdout.next_line().await? {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                if value.get(key).is_some() {
                    return Ok(value[key].clone());
                }
            }
        }
        bail!("a worker ended without saying {key}")
    }

    async fn tell(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        Ok(self.stdin.flush().await?)
    }
}

/// The server's resident memory in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `q`-quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn graphql(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let answer: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?;
    if let Some(errors) = answer.get("errors") {
        bail!("{errors}");
    }
    Ok(answer["data"].clone())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

pub async fn run(run: Run, addr: SocketAddr) -> anyhow::Result<bool> {
    let deadline = Duration::from_secs(run.timeout_secs);
    let started = Instant::now();
    let mut workers = Vec::new();
    let outcome = tokio::time::timeout(deadline, drive(&run, addr, &mut workers)).await;
    for worker in &mut workers {
        let _ = worker.child.start_kill();
    }
    match outcome {
        Ok(result) => result,
        Err(_) => bail!(
            "the run passed its limit of {:?} ({:?}) and was stopped",
            deadline,
            started.elapsed()
        ),
    }
}

async fn drive(run: &Run, addr: SocketAddr, workers: &mut Vec<Worker>) -> anyhow::Result<bool> {
    let token = run
        .token
        .clone()
        .ok_or_else(|| anyhow!("--token (or SWITCHBOARD_TOKEN): `switchboard token --sub load --org load --role admin`"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let rss_before = rss_kib(run.server_pid);

    // Zoom meeting numbers of this run's own, so that no earlier run's bot is in the way.
    let base = 1_000_000_000 + (now_ns() % 8_000_000_000) as u64;
    let trigger = "mutation($url: String!) { triggerMeetingBot(input: {meetUrl: $url, botName: \"Load\"}) { id status } }";
    let bots: Vec<String> = stream::iter(0..run.bots as u64)
        .map(|i| {
            let url = format!("https://zoom.us/j/{}", base + i);
            let (client, token) = (&client, &token);
            async move {
                let data = graphql(client, addr, token, trigger, json!({"url": url})).await?;
                data["triggerMeetingBot"]["id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("no bot in {data}"))
            }
        })
        .buffered(run.stop_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .context("triggering the bots")?;

    let setup = Instant::now();
    let exe = std::env::current_exe()?;
    let per = run.connections.div_ceil(run.processes);
    for p in 0..run.processes {
        let first = p * per;
        let count = per.min(run.connections.saturating_sub(first));
        let mut child = Command::new(&exe)
            .arg("worker")
            .env_remove("SWITCHBOARD_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
        let mut worker = Worker {
            child,
            stdin,
            stdout,
        };
        worker
            .tell(&Assignment {
                addr,
                token: token.clone(),
                bots: bots.clone(),
                first,
                count,
                per: run.subscriptions,
                setup_secs: run.timeout_secs.saturating_sub(run.wait_secs) / 2,
                wait_secs: run.wait_secs,
            })
            .await?;
        workers.push(worker);
    }
    let mut ready = 0;
    for worker in workers.iter_mut() {
        ready += worker.said("ready").await?.as_u64().unwrap_or(0);
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    // Let the server settle (its buffers, the allocator) before reading its memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_open = rss_kib(run.server_pid);

    let stop = "mutation($id: ID!) { stopMeetingBot(id: $id) { status sequence } }";
    let stopping = Instant::now();
    let stops = stream::iter(bots.iter())
        .map(|id| {
            let client = &client;
            let token = &token;
            async move {
                let at = now_ns();
                let data = graphql(client, addr, token, stop, json!({"id": id})).await?;
                let bot = &data["stopMeetingBot"];
                if bot["status"] != "DONE" {
                    bail!("bot {id} is {} after its stop, not DONE: start the server with BOT_SYNC_INTERVAL_SECS=0", bot["status"]);
                }
                let sequence = bot["sequence"].as_i64().context("no sequence")?;
                Ok((id.clone(), (at, sequence)))
            }
        })
        .buffer_unordered(run.stop_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .context("stopping the bots")?;
    let stops_per_sec = bots.len() as f64 / stopping.elapsed().as_secs_f64();
    let stops = Stops { stops };
    let mut report = Report::default();
    for worker in workers.iter_mut() {
        worker.tell(&stops).await?;
    }
    for worker in workers.iter_mut() {
        let part: Report = serde_json::from_value(worker.said("report").await?)?;
        report.connections += part.connections;
        report.failed_connections += part.failed_connections;
        report.subscriptions += part.subscriptions;
        report.latencies_us.extend(part.latencies_us);
        report.lost += part.lost;
        report.duplicated += part.duplicated;
        report.errors.extend(part.errors);
    }
    for worker in workers.iter_mut() {
        let _ = worker.child.wait().await;
    }
    // The connections are gone; give the server a moment to free what they held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(run.server_pid);

    report.latencies_us.sort_unstable();
    let expected = run.connections * run.subscriptions;
    // Every subscription must have had its final frame: none missing.
    let missing = expected.saturating_sub(report.latencies_us.len());
    let ok = report.failed_connections == 0
        && report.lost == 0
        && report.duplicated == 0
        && missing == 0
        && ready as usize == run.connections;
    let ms = |us: u64| us as f64 / 1000.0;
    let latencies = &report.latencies_us;
    let (p50, p99, max) = (
        ms(quantile(latencies, 0.5)),
        ms(quantile(latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or(0)),
    );
    let mib =
        |kib: Option<u64>| kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let per_connection = match (rss_before, rss_open) {
        (Some(before), Some(open)) => format!(
            " (+{:.1} KiB a connection)",
            open.saturating_sub(before) as f64 / run.connections as f64
        ),
        _ => String::new(),
    };
    println!(
        "{} connections × {} subscriptions ({} processes, {} bots, set up in {setup_secs:.1} s, {stops_per_sec:.0} stops/s): {} final frames, latency p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; lost {}, duplicated {}, missing {missing}, failed connections {}; server RSS {} before, {} open{per_connection}, {} after{}",
        run.connections,
        run.subscriptions,
        run.processes,
        run.bots,
        latencies.len(),
        report.lost,
        report.duplicated,
        report.failed_connections,
        mib(rss_before),
        mib(rss_open),
        mib(rss_after),
        if ok { "" } else { " — FAILED" },
    );
    for error in report.errors.iter().take(5) {
        eprintln!("error: {error}");
    }
    if run.json {
        println!(
            "{}",
            json!({
                "ok": ok,
                "connections": run.connections,
                "subscriptions_per_connection": run.subscriptions,
                "processes": run.processes,
                "bots": run.bots,
                "setup_secs": setup_secs,
                "stops_per_sec": stops_per_sec,
                "deliveries": latencies.len(),
                "latency_ms": {"p50": p50, "p99": p99, "max": max},
                "lost": report.lost,
                "duplicated": report.duplicated,
                "missing": missing,
                "failed_connections": report.failed_connections,
                "rss_kib": {"before": rss_before, "open": rss_open, "after": rss_after},
                "errors": report.errors,
            })
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 50);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn the_servers_memory_is_its_vmrss() {
        assert!(rss_kib(Some(std::process::id())).unwrap() > 0);
        assert_eq!(rss_kib(None), None);
    }
}
