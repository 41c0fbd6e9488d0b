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

/// An introspection of `depth` levels: `__schema { types { fields { type { ofType { … name`.
fn introspection(depth: usize) -> String {
    let of_types = depth - 5;
    format!(
        "{{ __schema {{ types {{ fields {{ type {{ {}name {} }} }} }} }} }}",
        "ofType { ".repeat(of_types),
        "} ".repeat(of_types)
    )
}

#[tokio::test]
async fn tools_introspection_query_passes_the_default_depth_limit_and_no_deeper() {
    // graphql-js's getIntrospectionQuery(), which GraphiQL sends, is 15 levels deep; the
    // default limit of 12 refused it, so GraphiQL had no schema (tests/js/clients/schema.js
    // sends the query itself).
    let app = TestApp::spawn().await;
    assert_eq!(app.services.config.graphql.max_depth, 12);
    let answered = app.gql(None, &introspection(15), json!({})).await;
    assert!(answered["errors"].is_null(), "{answered}");
    assert!(answered["data"]["__schema"]["types"].is_array());

    let deeper = app.gql(None, &introspection(16), json!({})).await;
    assert_eq!(error_code(&deeper), "BAD_USER_INPUT", "{deeper}");
    // Asked again, once the text is known: still refused.
    let again = app.gql(None, &introspection(16), json!({})).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");

    // The allowance is introspection's alone: beside a field of the API, the limit holds.
    let mixed = introspection(15).replacen("{ __schema", "{ health { status } __schema", 1);
    let refused = app.gql(None, &mixed, json!({})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(refused["data"].is_null(), "{refused}");
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
