//! GraphiQL as the server serves it: a page that loads nothing from another host, each of its
//! files from the binary, and example tabs that are valid against the schema.

use std::collections::BTreeSet;

use reqwest::header;
use sha2::{Digest, Sha256};

use crate::common::node::node;
use crate::common::TestApp;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playground/graphiql");

/// The values of every `src="…"` and `href="…"` in `page`.
fn references(page: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| page.split(attribute).skip(1))
        .map(|rest| rest.split('"').next().unwrap_or_default().to_string())
        .collect()
}

/// The sha256 the README's table gives for `file`.
fn documented_sha256(readme: &str, file: &str) -> Option<String> {
    readme
        .lines()
        .find(|line| line.starts_with(&format!("| `{file}` |")))
        .and_then(|line| line.trim_end_matches(" |").rsplit('`').nth(1))
        .map(str::to_string)
}

#[tokio::test]
async fn graphiql_page_loads_only_same_origin_assets_served_with_their_types() {
    let app = TestApp::spawn().await;
    let page = reqwest::get(app.url("/graphql")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let page = page.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("src=\"//"),
        "the page names no other host: {page}"
    );

    let references = references(&page);
    let readme = std::fs::read_to_string(format!("{DIR}/README.md")).unwrap();
    let mut served = BTreeSet::new();
    for reference in &references {
        let file = reference
            .strip_prefix("/graphiql/")
            .unwrap_or_else(|| panic!("{reference} is not one of this server's GraphiQL files"));
        let response = reqwest::get(app.url(reference)).await.unwrap();
        assert_eq!(response.status(), 200, "{reference}");
        let expected_type = if file.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            expected_type,
            "{reference}"
        );
        let cache = response.headers()[header::CACHE_CONTROL].clone();
        let body = response.bytes().await.unwrap();
        match documented_sha256(&readme, file) {
            Some(sha256) => {
                assert_eq!(
                    hex::encode(Sha256::digest(&body)),
                    sha256,
                    "{file} as served is the vendored file the README describes"
                );
                assert_eq!(cache, "public, max-age=31536000, immutable", "{file}");
            }
            None => {
                assert_eq!(body, std::fs::read(format!("{DIR}/{file}")).unwrap());
                assert_eq!(cache, "no-cache", "{file}: ours changes with the server");
            }
        }
        served.insert(file.to_string());
    }

    // Every file beside the page is one it loads (and is therefore served), but the notes.
    let on_disk: BTreeSet<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !["index.html", "README.md", "LICENSES.txt"].contains(&name.as_str()))
        .collect();
    assert_eq!(served, on_disk);
    let vendored = served
        .iter()
        .filter(|file| documented_sha256(&readme, file).is_some())
        .count();
    assert_eq!(
        vendored, 5,
        "GraphiQL's script and styles, React, ReactDOM, graphql-ws"
    );

    let missing = reqwest::get(app.url("/graphiql/nothing.js")).await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn graphiql_examples_validate_against_schema_graphql_in_graphql_js() {
    let ran = node("graphiql_examples.js", &[]).await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(
        ran.result["problems"],
        serde_json::json!([]),
        "{}",
        ran.output
    );
    let tabs = ran.result["tabs"].as_array().unwrap();
    let domains: Vec<&str> = tabs.iter().filter_map(|t| t["domain"].as_str()).collect();
    assert_eq!(
        domains,
        [
            "health",
            "meetings",
            "agents",
            "channels",
            "conversations",
            "broadcasts",
            "media",
            "webhooks"
        ]
    );
    let operations = |domain: &str| -> Vec<String> {
        tabs.iter()
            .find(|t| t["domain"] == domain)
            .map(|t| t["operations"].as_array().unwrap())
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(str::to_string))
            .collect()
    };
    for (domain, subscription) in [
        ("meetings", "subscription BotStatus"),
        ("agents", "subscription AgentEvents"),
        ("conversations", "subscription Messages"),
        ("broadcasts", "subscription Progress"),
        ("media", "subscription Animation"),
    ] {
        assert!(
            operations(domain).iter().any(|o| o == subscription),
            "{domain}: {:?}",
            operations(domain)
        );
    }
}
