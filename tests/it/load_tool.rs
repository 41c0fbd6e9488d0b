//! `switchboard-load` (README "Load tool") run as a user runs it, against the built server
//! binary in the sandbox.

use std::process::Command;

use serde_json::Value;

use crate::common::binary::{Launch, Server};

fn load_tool() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard-load"));
    command.env_remove("SWITCHBOARD_TOKEN");
    command
}

#[tokio::test]
async fn the_load_tool_delivers_every_status_change_once_to_every_subscriber_across_processes() {
    let server = Server::launch(Launch {
        // No bot moves on its own: each changes once, when the tool stops it.
        env: vec![("BOT_SYNC_INTERVAL_SECS", "0")],
        ..Launch::default()
    })
    .await;
    let token = server.token();
    let addr = server.addr.to_string();
    let pid = server.child.id().to_string();
    let run = tokio::task::spawn_blocking(move || {
        load_tool()
            .args(["--server", &addr, "--token", &token, "--server-pid", &pid])
            .args(["-n", "200", "-k", "2", "-p", "2", "--bots", "40", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut lines = stdout.lines();
    let summary = lines.next().unwrap();
    assert!(summary.contains("lost 0, duplicated 0"), "{summary}");
    let report: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["failed_connections"], 0, "{report}");
    assert_eq!(
        report["lost"], 0,
        "no subscriber missed a sequence: {report}"
    );
    assert_eq!(
        report["duplicated"], 0,
        "no subscriber saw one twice: {report}"
    );
    assert_eq!(
        report["deliveries"], 400,
        "a measured final frame for each of the 200 × 2 subscriptions: {report}"
    );
    let latency = &report["latency_ms"];
    let (p50, p99, max) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    for when in ["before", "open", "after"] {
        assert!(
            report["rss_kib"][when].as_u64().unwrap() > 0,
            "the server's memory {when}: {report}"
        );
    }
}

#[tokio::test]
async fn connections_a_server_out_of_descriptors_cannot_take_are_reported_failed_not_waited_for() {
    let server = Server::launch(Launch {
        env: vec![("BOT_SYNC_INTERVAL_SECS", "0")],
        nofile: Some(64),
        ..Launch::default()
    })
    .await;
    let token = server.token();
    let addr = server.addr.to_string();
    let run = tokio::task::spawn_blocking(move || {
        load_tool()
            .args(["--server", &addr, "--token", &token, "--json"])
            .args(["-n", "100", "-k", "1", "--bots", "10"])
            .args(["--timeout-secs", "20", "--wait-secs", "2"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success(), "{stdout}");
    let report: Value = serde_json::from_str(stdout.lines().nth(1).unwrap()).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let failed = report["failed_connections"].as_u64().unwrap();
    assert!(
        0 < failed && failed < 100,
        "some opened, the rest failed: {report}"
    );
    assert_eq!(
        report["deliveries"].as_u64().unwrap() + failed,
        100,
        "every connection that opened got its frame: {report}"
    );
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
}

#[test]
fn the_load_tool_refuses_a_server_on_another_machine_and_runs_past_its_bounds() {
    let refused = |args: &[&str]| {
        let run = load_tool()
            .args(args)
            .args(["--token", "t"])
            .output()
            .unwrap();
        assert!(!run.status.success(), "{args:?}");
        String::from_utf8_lossy(&run.stderr).to_string()
    };
    assert!(refused(&["--server", "10.0.0.1:8080"]).contains("not a loopback address"));
    assert!(refused(&["-n", "20001"]).contains("add --processes"));
    assert!(refused(&["--timeout-secs", "3600"]).contains("--timeout-secs at most 300"));
}
