//! GraphiQL, served from the binary: the page, its script and example tabs, and the vendored
//! builds of GraphiQL, React and graphql-ws it runs on (`playground/graphiql/README.md`), so
//! it needs no network but this server's.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// The vendored files carry their version in their names, so a cached copy never goes stale.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Our own files change with the server: asked for again each time.
const REVALIDATE: &str = "no-cache";

/// A file GraphiQL's page loads, at its path under this server.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($file:literal, $content_type:expr, $cache_control:expr) => {
        Asset {
            path: concat!("/graphiql/", $file),
            content_type: $content_type,
            cache_control: $cache_control,
            body: include_bytes!(concat!("../../playground/graphiql/", $file)),
        }
    };
}

static ASSETS: [Asset; 7] = [
    asset!("graphiql-3.9.0.min.css", CSS, IMMUTABLE),
    asset!("graphiql-3.9.0.min.js", JAVASCRIPT, IMMUTABLE),
    asset!("react-18.3.1.production.min.js", JAVASCRIPT, IMMUTABLE),
    asset!("react-dom-18.3.1.production.min.js", JAVASCRIPT, IMMUTABLE),
    asset!("graphql-ws-5.16.2.min.js", JAVASCRIPT, IMMUTABLE),
    asset!("examples.js", JAVASCRIPT, REVALIDATE),
    asset!("page.js", JAVASCRIPT, REVALIDATE),
];

static PAGE: Asset = Asset {
    path: "/graphql",
    content_type: HTML,
    cache_control: REVALIDATE,
    body: include_bytes!("../../playground/graphiql/index.html"),
};

impl Asset {
    fn response(&'static self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                (header::CACHE_CONTROL, self.cache_control),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            self.body,
        )
            .into_response()
    }
}

/// GraphiQL's page, for a plain GET of /graphql.
pub fn page() -> Response {
    PAGE.response()
}

/// Each asset at its own path.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |routes, asset| {
        routes.route(asset.path, get(move || async move { asset.response() }))
    })
}
