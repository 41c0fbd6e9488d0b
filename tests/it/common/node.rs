//! The JavaScript programs of `tests/js` (their npm packages installed by `.ci/setup`), run
//! with Node as an integrator would run them.

use std::time::Duration;

use serde_json::Value;

/// What a program said: whether it exited successfully, its last line of output as JSON
/// (`Null` when it is not), and all it wrote, for the failure message.
pub struct Ran {
    pub success: bool,
    pub result: Value,
    pub output: String,
}

/// Runs `tests/js/<script>` with `env`, for at most a minute.
pub async fn node(script: &str, env: &[(&str, &str)]) -> Ran {
    let js = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    assert!(
        std::path::Path::new(js).join("node_modules").exists(),
        "tests/js has no node_modules: run .ci/setup (npm ci --prefix tests/js)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(format!("{js}/{script}"))
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let ran = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} still running after a minute"))
        .expect("node runs (Node 20 is on PATH)");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let result = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or(Value::Null);
    Ran {
        success: ran.status.success(),
        result,
        output: format!("{stdout}\n{}", String::from_utf8_lossy(&ran.stderr)),
    }
}
