//! Memorial media: uploads over REST and GraphQL multipart, what probing finds, signed
//! links with ranges, refusals that keep nothing, and talking-photo animations against fake
//! D-ID and HeyGen servers.

pub mod animation;
mod s3;
pub mod uploads;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use switchboard::auth::Role;

use crate::common::TestApp;

/// Makes a small real media file with ffmpeg (`name`'s extension picks the container):
/// 640×480 test pictures, with a tone for the video containers that take one.
pub fn make_file(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let path = dir.join(name);
    let duration = format!("{seconds}");
    let mut args: Vec<&str> = vec!["-y", "-v", "error", "-f", "lavfi", "-i"];
    let photo = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jpg" | "png" | "webp")
    );
    if photo {
        args.extend(["testsrc=size=640x480:rate=1", "-frames:v", "1"]);
    } else {
        args.extend(["testsrc=size=640x480:rate=25", "-t", &duration]);
        args.extend(["-pix_fmt", "yuv420p"]);
        if name.ends_with(".webm") {
            args.extend(["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k"]);
        }
    }
    let status = std::process::Command::new("ffmpeg")
        .args(&args)
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    path
}

/// A memorial of `org`, made by its admin; its id.
pub async fn memorial(app: &TestApp, org: &str) -> String {
    let made = app
        .gql(
            Some(&app.admin(org)),
            "mutation($input: CreateMemorialInput!) { createMemorial(input: $input) { id name } }",
            json!({"input": {"name": "Grandma Ann", "description": "1931–2024"}}),
        )
        .await;
    made["data"]["createMemorial"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("memorial made: {made}"))
        .to_string()
}

/// POSTs `bytes` as the seed's multipart upload; the status and JSON body.
pub async fn upload_rest(
    app: &TestApp,
    credential: &str,
    memorial: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/memorials/{memorial}/media/upload")))
        .bearer_auth(credential)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads a file made by [`make_file`] as acme's admin; the medium's JSON.
pub async fn uploaded(app: &TestApp, memorial: &str, file: &Path) -> Value {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let (status, body) = upload_rest(
        app,
        &app.admin("acme"),
        memorial,
        &name,
        std::fs::read(file).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Rows in a table, for checking that nothing was kept.
pub async fn count(app: &TestApp, table: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let backend = app.services.db.get_database_backend();
    let row = app
        .services
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// Files under the app's data directory's `sub` folder, recursively.
pub fn files_under(app: &TestApp, sub: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&app.services.config.data_dir.join(sub), &mut found);
    found
}

pub fn manager(app: &TestApp) -> String {
    app.token("mia", "acme", Role::Manager)
}
