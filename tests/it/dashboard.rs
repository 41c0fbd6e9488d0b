//! The dashboard (`dashboard/`, served by `src/dashboard.rs`): every file embedded and served
//! with its content type, and the whole of it driven in headless Chromium against the built
//! binary run with `--sandbox`, as its users run it (tests/js/dashboard/e2e.js).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::binary::Server;
use crate::common::TestApp;

#[tokio::test]
async fn every_dashboard_file_is_served_with_its_content_type_and_the_page_at_root() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    let mut served = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let response = client
            .get(app.url(&format!("/dashboard/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{name} is left out of src/dashboard.rs"
        );
        let expected = match path.extension().unwrap().to_str().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "html" => "text/html; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("{name}: give .{other} files their content type"),
        };
        assert_eq!(response.headers()["content-type"], expected, "{name}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            response.bytes().await.unwrap(),
            std::fs::read(&path).unwrap()
        );
        served += 1;
    }
    assert!(served >= 10, "{served} files");
    let index =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard/index.html"))
            .unwrap();
    for page in ["/", "/playground"] {
        assert_eq!(app.get_text(page).await, index, "{page}");
    }
    let missing = client
        .get(app.url("/dashboard/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Where the browser test leaves its screenshots: `target/dashboard-screenshots/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-screenshots")
}

#[tokio::test]
async fn the_dashboard_follows_a_bot_a_conversation_and_the_health_live_in_chromium() {
    let server = Server::start_sandbox().await;
    let token = server.token();
    let run = Command::new("node")
        .arg("tests/js/dashboard/e2e.js")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SWITCHBOARD_URL", format!("http://{}", server.addr))
        .env("SWITCHBOARD_TOKEN", &token)
        .env("SCREENSHOTS", screenshots())
        .output()
        .expect("node (20+) runs the browser test: see .ci/setup");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    for step in [
        "ok bot walked INITIALIZED > CONNECTING",
        "ok a sandbox customer's message appeared",
        "ok taken over; the next message arrived live",
        "ok replied, noted, exported",
        "ok health went HEALTHY DEGRADED HEALTHY",
        "dashboard e2e passed",
    ] {
        assert!(stdout.contains(step), "{step}:\n{stdout}\n{stderr}");
    }
}
