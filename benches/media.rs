//! Issue "Memorial media" benchmark: a large video uploaded over HTTP to the seed's upload
//! route of a real server process (this crate's binary, `--sandbox`, SQLite), with the
//! upload's throughput and the server's memory sampled from /proc while it streams: peak
//! RSS growth must stay far below the file's size (goal: under 64 MB for 500 MB).
//!
//! `cargo bench --bench media` (BENCH_MEDIA_MB for another size; the video is raw frames in
//! Matroska, made by ffmpeg, so it is large and still a video ffprobe and ffmpeg read).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `key:` line of /proc/{pid}/status, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Raw 640×480 frames at 25 fps in Matroska, about `mb` megabytes.
fn make_video(path: &Path, mb: u64) {
    let frame_bytes = 640 * 480 * 3 / 2;
    let seconds = (mb * 1_000_000 / frame_bytes).div_ceil(25);
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x480:rate=25",
            "-t",
        ])
        .arg(seconds.to_string())
        .args(["-c:v", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the video");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn gql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider, as the server is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mb = env_or("BENCH_MEDIA_MB", 500);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let video = dir.join("big.mkv");
    make_video(&video, mb);
    let size = std::fs::metadata(&video).unwrap().len();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.join("data");
    let envs = [
        ("SWITCHBOARD_BIND", format!("127.0.0.1:{port}")),
        ("SWITCHBOARD_DATA_DIR", data.display().to_string()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/bench.db?mode=rwc", data.display()),
        ),
        ("MEDIA_MAX_BYTES", (2 * size).to_string()),
        ("RUST_LOG", "warn".into()),
    ];
    let mut server = tokio::process::Command::new(BIN)
        .arg("--sandbox")
        .envs(envs.clone())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let pid = server.id().unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{base}/graphql?query=%7Bhealth%7Bstatus%7D%7D"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = String::from_utf8(
        std::process::Command::new(BIN)
            .args([
                "token", "--sub", "bench", "--org", "bench", "--role", "admin",
            ])
            .envs(envs)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let made = gql(
        &base,
        &token,
        "mutation { createMemorial(input: {name: \"bench\"}) { id } }",
        json!({}),
    )
    .await;
    let memorial = made["data"]["createMemorial"]["id"]
        .as_str()
        .expect("memorial")
        .to_string();

    // The kernel keeps the process's peak resident size (VmHWM): nothing is missed between
    // samples.
    let before = status_kib(pid, "VmRSS:");
    let file = tokio::fs::File::open(&video).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let part = reqwest::multipart::Part::stream_with_length(body, size).file_name("big.mkv");
    let upload = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/memorials/{memorial}/media/upload"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let elapsed = upload.elapsed();
    let peak = status_kib(pid, "VmHWM:");
    assert!(status.is_success(), "upload answered {status}: {answer}");
    assert_eq!(answer["file_size"], size, "{answer}");
    server.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "media upload: {:.0} MB video ({} bytes), {:?} codec {}",
        size as f64 / 1e6,
        size,
        answer["duration"],
        answer["codec"]
    );
    println!(
        "  {:.1} s end to end (received, probed, thumbnailed, stored): {:.0} MB/s",
        elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64()
    );
    println!(
        "  server RSS before {:.1} MiB, peak {:.1} MiB: growth {:.1} MiB (goal < 64 MB)",
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before))
    );
}
