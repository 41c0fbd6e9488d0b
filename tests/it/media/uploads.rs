//! Uploads: each format taken and probed, thumbnails, signed links with ranges, and the
//! refusals (a disguised text file, a corrupt video, an oversized upload, a bad link,
//! another organisation, a viewer) that keep nothing.

use serde_json::{json, Value};
use switchboard::auth::Role;

use super::{count, files_under, make_file, manager, memorial, upload_rest, uploaded};
use crate::common::{error_code, TestApp};

const MEDIA: &str = "query($id: ID!) { media(id: $id) { id kind contentType fileName sizeBytes width height durationSecs codec url thumbnailUrl } }";

/// GETs a link the server made, at the test server (its PUBLIC_BASE_URL is not there).
pub async fn get(app: &TestApp, url: &str, range: Option<&str>) -> reqwest::Response {
    let url = url::Url::parse(url).unwrap();
    let local = app.url(&format!("{}?{}", url.path(), url.query().unwrap_or("")));
    let mut request = reqwest::Client::new().get(local);
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.unwrap()
}

/// The width and height of a JPEG, read by the `image` crate's own decoder in ffprobe's
/// stead: ffprobe reads it as a one-frame video.
fn jpeg_size(bytes: &[u8]) -> (u64, u64) {
    let dir = tempdir();
    let path = dir.join("t.jpg");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg(&path)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        json["streams"][0]["width"].as_u64().unwrap(),
        json["streams"][0]["height"].as_u64().unwrap(),
    )
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-media-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn every_photo_and_video_format_is_taken_by_its_content_and_probed() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let dir = tempdir();
    let cases = [
        ("photo.jpg", "PHOTO", "image/jpeg"),
        ("photo.png", "PHOTO", "image/png"),
        ("photo.webp", "PHOTO", "image/webp"),
        ("clip.mp4", "VIDEO", "video/mp4"),
        ("clip.mov", "VIDEO", "video/quicktime"),
        ("clip.avi", "VIDEO", "video/x-msvideo"),
        ("clip.mkv", "VIDEO", "video/x-matroska"),
        ("clip.webm", "VIDEO", "video/webm"),
    ];
    for (name, kind, content_type) in cases {
        let file = make_file(&dir, name, 2.0);
        let size = std::fs::metadata(&file).unwrap().len();
        let body = uploaded(&app, &memorial, &file).await;
        let media = app
            .gql(Some(&app.admin("acme")), MEDIA, json!({"id": body["id"]}))
            .await;
        let media = &media["data"]["media"];
        assert_eq!(media["kind"], kind, "{name}");
        assert_eq!(media["contentType"], content_type, "{name}");
        assert_eq!(media["fileName"], name);
        assert_eq!(media["sizeBytes"], size, "{name}");
        assert_eq!(
            (media["width"].clone(), media["height"].clone()),
            (json!(640), json!(480)),
            "{name}"
        );
        if kind == "VIDEO" {
            let duration = media["durationSecs"].as_f64().unwrap();
            assert!((1.9..2.2).contains(&duration), "{name}: {duration}");
            assert!(
                media["codec"].as_str().is_some_and(|c| !c.is_empty()),
                "{name}"
            );
        }
        let thumbnail = get(&app, media["thumbnailUrl"].as_str().unwrap(), None).await;
        assert_eq!(thumbnail.status(), 200, "{name}");
        assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");
        let (w, h) = jpeg_size(&thumbnail.bytes().await.unwrap());
        assert_eq!(
            (w, h),
            (320, 240),
            "{name}: thumbnails fit 320×320, aspect kept"
        );
        // The original comes back byte for byte.
        let original = get(&app, media["url"].as_str().unwrap(), None).await;
        assert_eq!(original.headers()["content-type"], content_type);
        assert_eq!(
            original.bytes().await.unwrap().to_vec(),
            std::fs::read(&file).unwrap(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_video_uploaded_as_a_graphql_multipart_request_is_stored_and_probed() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "clip.mp4", 1.5);
    let operations = json!({
        "query": "mutation($m: ID!, $file: Upload!) { uploadMedia(memorialId: $m, file: $file) { kind fileName durationSecs thumbnailUrl } }",
        "variables": {"m": memorial, "file": null},
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({"0": ["variables.file"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(std::fs::read(&file).unwrap()).file_name("holiday.mp4"),
        );
    let response: Value = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(manager(&app))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let media = &response["data"]["uploadMedia"];
    assert_eq!(media["kind"], "VIDEO", "{response}");
    assert_eq!(media["fileName"], "holiday.mp4");
    // Shorter than a second and a half: the thumbnail is still the frame at 1 s.
    assert!((1.4..1.7).contains(&media["durationSecs"].as_f64().unwrap()));
    assert!(media["thumbnailUrl"].as_str().is_some());
}

#[tokio::test]
async fn a_video_larger_than_the_frameworks_default_limits_is_taken_whole() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    // Raw frames: about 5 MB, over axum's 2 MB multipart default and the 1 MiB API limit.
    let file = tempdir().join("big.mkv");
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
            "0.5",
        ])
        .args(["-c:v", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 4_000_000, "{size}");
    let body = uploaded(&app, &memorial, &file).await;
    assert_eq!(body["file_size"], size);
    assert_eq!(body["media_type"], "video");
}

#[tokio::test]
async fn a_video_link_answers_range_requests_so_a_browser_can_seek() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "clip.mp4", 1.0);
    let bytes = std::fs::read(&file).unwrap();
    let url = uploaded(&app, &memorial, &file).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    let size = bytes.len();

    let whole = get(&app, &url, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");

    let first = get(&app, &url, Some("bytes=0-99")).await;
    assert_eq!(first.status(), 206);
    assert_eq!(
        first.headers()["content-range"],
        format!("bytes 0-99/{size}")
    );
    assert_eq!(first.bytes().await.unwrap().to_vec(), bytes[..100].to_vec());

    let tail = get(&app, &url, Some("bytes=-50")).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.unwrap().to_vec(),
        bytes[size - 50..].to_vec()
    );

    let open = get(&app, &url, Some(&format!("bytes={}-", size - 10))).await;
    assert_eq!(
        open.headers()["content-range"],
        format!("bytes {}-{}/{size}", size - 10, size - 1)
    );

    let beyond = get(&app, &url, Some(&format!("bytes={size}-"))).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{size}"));
}

/// What a refused upload must leave: no row, no stored object, no file waiting.
async fn assert_nothing_kept(app: &TestApp) {
    assert_eq!(count(app, "media").await, 0);
    assert_eq!(files_under(app, "media"), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        files_under(app, "media-incoming"),
        Vec::<std::path::PathBuf>::new()
    );
}

#[tokio::test]
async fn a_text_file_named_mp4_is_refused_by_its_content_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let text = b"I am a text file wearing a video's name, honestly.".repeat(20);
    let (status, body) = upload_rest(&app, &app.admin("acme"), &memorial, "clip.mp4", text).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "BAD_USER_INPUT", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not a photo"),
        "{body}"
    );
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn a_corrupt_or_truncated_video_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "clip.mp4", 2.0);
    let bytes = std::fs::read(&file).unwrap();
    // ffmpeg writes the index at the end: half a file has none.
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let (status, body) =
        upload_rest(&app, &app.admin("acme"), &memorial, "clip.mp4", truncated).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("corrupt or truncated"),
        "{body}"
    );
    // A real header and noise after it.
    let mut garbage = bytes[..64].to_vec();
    garbage.extend(std::iter::repeat_n(0x5Au8, 20_000));
    let (status, _) = upload_rest(&app, &app.admin("acme"), &memorial, "clip.mp4", garbage).await;
    assert_eq!(status, 422);
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_while_it_streams_and_nothing_is_kept() {
    let app = TestApp::builder()
        .config(|c| c.media.max_bytes = 200_000)
        .spawn()
        .await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "photo.jpg", 1.0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.resize(3_000_000, 0);
    // Sent without a length, as a browser streams: refused once the limit is passed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(
        futures_util::stream::iter(chunks),
    ))
    .file_name("photo.jpg");
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/memorials/{memorial}/media/upload")))
        .bearer_auth(app.admin("acme"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("MEDIA_MAX_BYTES"),
        "{body}"
    );
    // With its length said up front, it is refused before a byte is read.
    let (status, body) = upload_rest(
        &app,
        &app.admin("acme"),
        &memorial,
        "photo.jpg",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "BAD_USER_INPUT");
    // The same through GraphQL.
    let operations = json!({
        "query": "mutation($m: ID!, $file: Upload!) { uploadMedia(memorialId: $m, file: $file) { id } }",
        "variables": {"m": memorial, "file": null},
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({"0": ["variables.file"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"),
        );
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(app.admin("acme"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn a_tampered_or_expired_media_link_is_refused() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "photo.png", 1.0);
    let body = uploaded(&app, &memorial, &file).await;
    let url = body["url"].as_str().unwrap().to_string();
    assert_eq!(get(&app, &url, None).await.status(), 200);

    let (base, query) = url.split_once('?').unwrap();
    let params: Vec<(&str, &str)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap())
        .collect();
    let exp: i64 = params
        .iter()
        .find(|p| p.0 == "exp")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let sig = params.iter().find(|p| p.0 == "sig").unwrap().1;
    let mut flipped = sig.to_string();
    let last = flipped.pop().unwrap();
    // Another hex digit whatever the case: 'a' and 'A' are the same digit.
    flipped.push(if last == '0' { '1' } else { '0' });
    let refused = [
        format!("{base}?exp={exp}&sig={flipped}"),
        format!("{base}?exp={}&sig={sig}", exp + 3600),
        // The thumbnail's link is not the original's.
        format!("{base}/thumbnail?exp={exp}&sig={sig}"),
        base.to_string(),
    ];
    for link in refused {
        let response = get(&app, &link, None).await;
        assert_eq!(response.status(), 401, "{link}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED");
    }
    app.services.clock.advance(chrono::Duration::seconds(3601));
    assert_eq!(get(&app, &url, None).await.status(), 401, "expired");
}

#[tokio::test]
async fn another_organisations_memorials_and_media_do_not_exist_and_viewers_only_read() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let file = make_file(&tempdir(), "photo.jpg", 1.0);
    let media = uploaded(&app, &memorial, &file).await;
    let globex = app.admin("globex");

    let (status, _) = upload_rest(
        &app,
        &globex,
        &memorial,
        "photo.jpg",
        std::fs::read(&file).unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let seen = app
        .gql(Some(&globex), MEDIA, json!({"id": media["id"]}))
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
    let seen = app
        .gql(
            Some(&globex),
            "query($id: ID!) { memorial(id: $id) { id } }",
            json!({"id": memorial}),
        )
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
    let listed = app
        .gql(
            Some(&globex),
            "{ memorials { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["memorials"]["edges"], json!([]));
    let deleted = app
        .gql(
            Some(&globex),
            "mutation($id: ID!) { deleteMemorial(id: $id) { id } }",
            json!({"id": memorial}),
        )
        .await;
    assert_eq!(error_code(&deleted), "NOT_FOUND");

    let viewer = app.token("vic", "acme", Role::Viewer);
    let (status, body) = upload_rest(
        &app,
        &viewer,
        &memorial,
        "photo.jpg",
        std::fs::read(&file).unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let made = app
        .gql(
            Some(&viewer),
            "mutation { createMemorial(input: {name: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&made), "FORBIDDEN");
    let read = app
        .gql(Some(&viewer), MEDIA, json!({"id": media["id"]}))
        .await;
    assert_eq!(read["data"]["media"]["kind"], "PHOTO", "{read}");
    let (status, _) = {
        let response = reqwest::Client::new()
            .post(app.url(&format!("/api/v1/memorials/{memorial}/media/upload")))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 401, "no credential");
}

#[tokio::test]
async fn deleting_a_memorial_removes_its_media_and_their_stored_files() {
    let app = TestApp::spawn().await;
    let memorial = memorial(&app, "acme").await;
    let dir = tempdir();
    uploaded(&app, &memorial, &make_file(&dir, "photo.jpg", 1.0)).await;
    let video = uploaded(&app, &memorial, &make_file(&dir, "clip.mp4", 1.0)).await;
    assert_eq!(
        files_under(&app, "media").len(),
        4,
        "two originals, two thumbnails"
    );
    let listed = app
        .gql(
            Some(&app.admin("acme")),
            "query($id: ID!) { memorial(id: $id) { media(first: 1) { edges { node { id } } pageInfo { hasNextPage } } } }",
            json!({"id": memorial}),
        )
        .await;
    assert_eq!(
        listed["data"]["memorial"]["media"]["edges"][0]["node"]["id"], video["id"],
        "newest first"
    );
    assert_eq!(
        listed["data"]["memorial"]["media"]["pageInfo"]["hasNextPage"],
        true
    );

    let deleted = app
        .gql(
            Some(&manager(&app)),
            "mutation($id: ID!) { deleteMemorial(id: $id) { id } }",
            json!({"id": memorial}),
        )
        .await;
    assert_eq!(
        deleted["data"]["deleteMemorial"]["id"],
        memorial.as_str(),
        "{deleted}"
    );
    assert_eq!(count(&app, "media").await, 0);
    assert_eq!(files_under(&app, "media"), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        get(&app, video["url"].as_str().unwrap(), None)
            .await
            .status(),
        404
    );
}
