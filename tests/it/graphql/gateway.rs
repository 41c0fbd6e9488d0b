//! What every GraphQL request meets before the schema runs it: limits on depth, complexity
//! and aliases, introspection, and persisted queries.

use serde_json::{json, Value};

use crate::common::{error_code, TestApp};

#[tokio::test]
async fn depth_complexity_and_alias_limits_refuse_abusive_queries() {
    let app = TestApp::builder()
        .config(|c| {
            c.graphql.max_depth = 2;
            c.graphql.max_complexity = 4;
            c.graphql.max_aliases = 3;
        })
        .spawn()
        .await;
    let deep = app
        .gql(None, "{ health { providers { name } } }", json!({}))
        .await;
    assert_eq!(error_code(&deep), "BAD_USER_INPUT");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{deep}"
    );

    let complex = app
        .gql(
            None,
            "{ health { status version sandbox database } }",
            json!({}),
        )
        .await;
    assert!(
        complex["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{complex}"
    );

    let aliased = app.gql(None, "{ a: health { status } b: health { status } c: health { status } d: health { status } }", json!({})).await;
    assert_eq!(error_code(&aliased), "BAD_USER_INPUT");
    assert!(
        aliased["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{aliased}"
    );

    let fine = app.gql(None, "{ health { status } }", json!({})).await;
    assert_eq!(fine["data"]["health"]["status"], "HEALTHY");
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let app = TestApp::builder()
        .config(|c| c.graphql.introspection = false)
        .spawn()
        .await;
    let response = app
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(response["data"]["__schema"].is_null(), "{response}");
    let open = TestApp::spawn().await;
    let response = open
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        response["data"]["__schema"]["queryType"]["name"],
        "QueryRoot"
    );
}

#[tokio::test]
async fn persisted_queries_are_registered_by_hash_then_served_by_hash_alone() {
    let app = TestApp::spawn().await;
    let query = "{ health { status } }";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(query.as_bytes()));
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let url = app.url("/graphql");
    let post = |body: Value| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let unknown = post(json!({"extensions": extensions})).await;
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    let registered = post(json!({"query": query, "extensions": extensions})).await;
    assert_eq!(registered["data"]["health"]["status"], "HEALTHY");
    let by_hash = post(json!({"extensions": extensions})).await;
    assert_eq!(by_hash["data"]["health"]["status"], "HEALTHY");
}
