//! The dashboard: the static files of `dashboard/` (plain ES modules and CSS, no build
//! step), embedded in the binary and served by it alone, so it works offline. Its page is
//! at `/` and `/playground`, its files under `/dashboard/`; it talks to the server only
//! through the public GraphQL API.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: its name under `/dashboard/`, its content type, its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../dashboard/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `dashboard/` (a test checks that none is left out).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("ui.js", JS),
    asset!("health.js", JS),
    asset!("meetings.js", JS),
    asset!("chat.js", JS),
    asset!("agents.js", JS),
    asset!("broadcasts.js", JS),
    asset!("media.js", JS),
    asset!("stats.js", JS),
];

/// `/`, `/playground` and `/dashboard/{file}`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/playground", get(page))
        .route("/dashboard/{name}", get(file))
}

async fn page() -> Response {
    serve("index.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, "no such dashboard file").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            // Embedded in the binary: an upgrade changes them, so the browser asks again.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}
