//! Media kept in S3-compatible storage (`STORAGE_URL=s3://…`): a local fake S3 that answers
//! object_store's calls as S3 does (objects, multipart uploads, ranged reads), standing in
//! for AWS, MinIO or R2.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::uploads::get;
use super::{make_file, memorial, uploaded};
use crate::common::TestApp;

#[derive(Default)]
struct Bucket {
    objects: HashMap<String, Vec<u8>>,
    uploads: HashMap<String, BTreeMap<u32, Vec<u8>>>,
    /// Multipart uploads completed, to see that large writes went in parts.
    completed: usize,
}

type Shared = Arc<Mutex<Bucket>>;

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn no_such_key() -> Response {
    xml(
        StatusCode::NOT_FOUND,
        "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
            .into(),
    )
}

/// One handler for S3's path-style API: `/{bucket}/{key}` with the operation in the method
/// and the query.
async fn s3(
    State(bucket): State<Shared>,
    method: Method,
    Path((_bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut b = bucket.lock().unwrap();
    let etag = |data: &[u8]| format!("\"{:x}\"", data.len());
    match (method, query.get("uploadId"), query.get("partNumber")) {
        (Method::POST, None, _) if query.contains_key("uploads") => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            b.uploads.insert(id.clone(), BTreeMap::new());
            xml(StatusCode::OK, format!(
                "<InitiateMultipartUploadResult><Bucket>media</Bucket><Key>{key}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
            ))
        }
        (Method::PUT, Some(id), Some(part)) => {
            let Some(parts) = b.uploads.get_mut(id) else {
                return xml(
                    StatusCode::NOT_FOUND,
                    "<Error><Code>NoSuchUpload</Code></Error>".into(),
                );
            };
            parts.insert(part.parse().unwrap_or(0), body.to_vec());
            (StatusCode::OK, [(header::ETAG, etag(&body))]).into_response()
        }
        (Method::POST, Some(id), None) => {
            let Some(parts) = b.uploads.remove(id) else {
                return xml(
                    StatusCode::NOT_FOUND,
                    "<Error><Code>NoSuchUpload</Code></Error>".into(),
                );
            };
            let data: Vec<u8> = parts.into_values().flatten().collect();
            let tag = etag(&data);
            b.objects.insert(key.clone(), data);
            b.completed += 1;
            xml(StatusCode::OK, format!(
                "<CompleteMultipartUploadResult><Key>{key}</Key><ETag>{tag}</ETag></CompleteMultipartUploadResult>"
            ))
        }
        (Method::DELETE, Some(id), None) => {
            b.uploads.remove(id);
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::PUT, None, None) => {
            let tag = etag(&body);
            b.objects.insert(key, body.to_vec());
            (StatusCode::OK, [(header::ETAG, tag)]).into_response()
        }
        (Method::DELETE, None, None) => {
            b.objects.remove(&key);
            StatusCode::NO_CONTENT.into_response()
        }
        (method @ (Method::GET | Method::HEAD), None, None) => {
            let Some(data) = b.objects.get(&key) else {
                return no_such_key();
            };
            let size = data.len();
            let range = headers
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes="))
                .and_then(|v| v.split_once('-'))
                .map(|(a, b)| {
                    let start: usize = a.parse().unwrap_or(0);
                    let end = b.parse::<usize>().map_or(size, |e| (e + 1).min(size));
                    start..end
                });
            let (status, slice) = match &range {
                Some(r) => (StatusCode::PARTIAL_CONTENT, data[r.clone()].to_vec()),
                None => (StatusCode::OK, data.clone()),
            };
            let mut response = Response::builder()
                .status(status)
                .header(header::CONTENT_LENGTH, slice.len())
                .header(header::LAST_MODIFIED, "Sat, 05 Dec 2026 04:00:00 GMT")
                .header(header::ETAG, etag(data));
            if let Some(r) = &range {
                response = response.header(
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{size}", r.start, r.end - 1),
                );
            }
            let body = if method == Method::HEAD {
                Vec::new()
            } else {
                slice
            };
            response.body(axum::body::Body::from(body)).unwrap()
        }
        _ => xml(
            StatusCode::BAD_REQUEST,
            "<Error><Code>InvalidRequest</Code></Error>".into(),
        ),
    }
}

/// S3's DeleteObjects: `POST /{bucket}?delete` with the keys in XML.
async fn delete_objects(State(bucket): State<Shared>, body: String) -> Response {
    let mut b = bucket.lock().unwrap();
    let mut deleted = String::new();
    for part in body.split("<Key>").skip(1) {
        let key = part
            .split("</Key>")
            .next()
            .unwrap_or_default()
            .replace("&amp;", "&");
        b.objects.remove(&key);
        deleted.push_str(&format!("<Deleted><Key>{key}</Key></Deleted>"));
    }
    xml(
        StatusCode::OK,
        format!("<DeleteResult>{deleted}</DeleteResult>"),
    )
}

async fn fake_s3() -> (String, Shared) {
    let bucket = Shared::default();
    let app = axum::Router::new()
        .route("/{bucket}", axum::routing::post(delete_objects))
        .route("/{bucket}/{*key}", axum::routing::any(s3))
        .with_state(bucket.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), bucket)
}

#[tokio::test]
async fn media_are_kept_in_s3_compatible_storage_read_by_range_and_removed_with_their_memorial() {
    let (endpoint, bucket) = fake_s3().await;
    // object_store reads its S3 settings from the usual AWS_* variables; this test runs in a
    // process of its own (nextest), so they stay here.
    for (name, value) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test-access-key"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-key"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(name, value);
    }
    let app = TestApp::builder()
        .config(|c| c.media.storage_url = Some("s3://media/switchboard".into()))
        .spawn()
        .await;
    let memorial = memorial(&app, "acme").await;
    let dir =
        std::env::temp_dir().join(format!("switchboard-s3-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let video = make_file(&dir, "clip.mp4", 1.0);
    let photo = make_file(&dir, "photo.png", 1.0);
    let stored_video = uploaded(&app, &memorial, &video).await;
    uploaded(&app, &memorial, &photo).await;

    let keys: Vec<String> = {
        let b = bucket.lock().unwrap();
        let mut keys: Vec<String> = b.objects.keys().cloned().collect();
        keys.sort();
        assert!(
            b.completed >= 2,
            "originals are written as multipart uploads"
        );
        assert!(b.uploads.is_empty(), "no upload left open");
        keys
    };
    assert_eq!(keys.len(), 4, "two originals and two thumbnails: {keys:?}");
    let video_key = format!(
        "switchboard/acme/{memorial}/{}/original.mp4",
        stored_video["id"].as_str().unwrap()
    );
    assert!(keys.contains(&video_key), "{keys:?}");
    assert_eq!(
        bucket.lock().unwrap().objects[&video_key],
        std::fs::read(&video).unwrap()
    );

    let url = stored_video["url"].as_str().unwrap();
    let part = get(&app, url, Some("bytes=10-29")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.unwrap().to_vec(),
        std::fs::read(&video).unwrap()[10..30].to_vec()
    );

    let deleted = app
        .gql(
            Some(&app.admin("acme")),
            "mutation($id: ID!) { deleteMemorial(id: $id) { id } }",
            json!({"id": memorial}),
        )
        .await;
    assert_eq!(
        deleted["data"]["deleteMemorial"]["id"],
        memorial.as_str(),
        "{deleted}"
    );
    assert!(
        bucket.lock().unwrap().objects.is_empty(),
        "the memorial's objects went with it"
    );
}
