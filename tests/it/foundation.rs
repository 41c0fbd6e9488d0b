//! The foundation through the real server: auth, transports, limits, operations.

use crate::common::{self, error_code, Frame, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard::auth::jwt::Claims;
use switchboard::auth::{JwtKeys, Role};
use tokio_tungstenite::tungstenite::Message;

const VIEWER_QUERY: &str = "{ viewer { userId organisationId role viaApiKey } }";

#[tokio::test]
async fn health_is_public_but_protected_fields_need_a_token() {
    let app = TestApp::spawn().await;
    let health = app
        .gql(None, "{ health { status sandbox database } }", json!({}))
        .await;
    assert_eq!(health["data"]["health"]["status"], "ok");
    assert_eq!(health["data"]["health"]["database"], "up");

    let anonymous = app.gql(None, VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let token = app.token("ann", "acme", Role::Manager);
    let signed_in = app.gql(Some(&token), VIEWER_QUERY, json!({})).await;
    assert_eq!(
        signed_in["data"]["viewer"],
        json!({"userId": "ann", "organisationId": "acme", "role": "MANAGER", "viaApiKey": false})
    );
}

#[tokio::test]
async fn expired_garbage_and_wrongly_signed_tokens_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .services
        .jwt
        .sign(&Claims {
            sub: "ann".into(),
            org: None,
            role: Some("admin".into()),
            exp: now - 600,
            iat: now - 1200,
        })
        .unwrap();
    let foreign = JwtKeys::hs256(b"some-other-installation-secret!!")
        .issue("ann", None, Role::Admin, 600)
        .unwrap();
    for (token, reason) in [
        (expired.as_str(), "token expired"),
        ("not.a.jwt", "token is malformed"),
        (foreign.as_str(), "token signature is not valid"),
    ] {
        let response = app.gql(Some(token), VIEWER_QUERY, json!({})).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{token}");
        assert_eq!(response["errors"][0]["message"], reason);
    }
}

#[tokio::test]
async fn an_org_claim_absent_means_the_users_own_organisation() {
    let app = TestApp::spawn().await;
    let token = app
        .services
        .jwt
        .issue("solo", None, Role::Admin, 600)
        .unwrap();
    let response = app.gql(Some(&token), VIEWER_QUERY, json!({})).await;
    assert_eq!(response["data"]["viewer"]["organisationId"], "solo");
}

const CREATE_KEY: &str = "mutation($name: String!) { createApiKey(name: $name, role: MANAGER) { secret apiKey { id prefix role } } }";

#[tokio::test]
async fn api_keys_are_shown_once_work_as_bearer_or_header_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let created = app
        .gql(Some(&admin), CREATE_KEY, json!({"name": "crm sync"}))
        .await;
    let secret = created["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let id = created["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("sb_"));
    assert!(secret.starts_with(
        created["data"]["createApiKey"]["apiKey"]["prefix"]
            .as_str()
            .unwrap()
    ));

    let as_bearer = app.gql(Some(&secret), VIEWER_QUERY, json!({})).await;
    assert_eq!(as_bearer["data"]["viewer"]["organisationId"], "acme");
    assert_eq!(as_bearer["data"]["viewer"]["viaApiKey"], true);
    let as_header: Value = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("x-api-key", &secret)
        .json(&json!({"query": VIEWER_QUERY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_header["data"]["viewer"]["role"], "MANAGER");

    // The list never carries the secret.
    let listed = app
        .gql(Some(&admin), "{ apiKeys { id name prefix } }", json!({}))
        .await;
    assert_eq!(listed["data"]["apiKeys"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));

    let revoked = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
            json!({"id": id}),
        )
        .await;
    assert!(revoked["data"]["revokeApiKey"]["revokedAt"].is_string());
    let refused = app.gql(Some(&secret), VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert_eq!(refused["errors"][0]["message"], "API key revoked");
}

#[tokio::test]
async fn another_organisation_cannot_see_or_revoke_a_key_and_non_admins_cannot_make_one() {
    let app = TestApp::spawn().await;
    let created = app
        .gql(
            Some(&app.admin("acme")),
            CREATE_KEY,
            json!({"name": "acme key"}),
        )
        .await;
    let id = created["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let other = app.admin("globex");
    let listed = app.gql(Some(&other), "{ apiKeys { id } }", json!({})).await;
    assert_eq!(listed["data"]["apiKeys"], json!([]));
    let revoke = app
        .gql(
            Some(&other),
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&revoke), "NOT_FOUND");

    let manager = app.token("mo", "acme", Role::Manager);
    let denied = app
        .gql(Some(&manager), CREATE_KEY, json!({"name": "sneaky"}))
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let viewer = app.token("vi", "acme", Role::Viewer);
    let denied = app
        .gql(Some(&viewer), "{ apiKeys { id } }", json!({}))
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
}

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
    assert_eq!(fine["data"]["health"]["status"], "ok");
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
async fn a_request_body_over_the_limit_is_refused_with_413_in_the_routes_json() {
    let app = TestApp::builder()
        .config(|c| c.graphql.body_limit = 1024)
        .spawn()
        .await;
    let token = app.token("ann", "acme", Role::Manager);
    let padding = "x".repeat(4096);
    let graphql = json!({"query": format!("{{ health {{ status }} }} # {padding}")}).to_string();
    let rest = json!({"meet_url": padding, "bot_name": "Scribe"}).to_string();
    // Announced by its length, and streamed without one (found out only while reading).
    for streamed in [false, true] {
        for (path, body) in [("/graphql", &graphql), ("/api/v1/meet/trigger", &rest)] {
            let body = if streamed {
                let chunks = [Ok::<_, std::io::Error>(body.clone())];
                reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
            } else {
                reqwest::Body::from(body.clone())
            };
            let response = reqwest::Client::new()
                .post(app.url(path))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 413, "{path}, streamed: {streamed}");
            let answer: Value = response.json().await.unwrap();
            let code = match path {
                "/graphql" => error_code(&answer),
                _ => answer["code"].as_str().unwrap_or("<no code>"),
            };
            assert_eq!(
                code, "BAD_USER_INPUT",
                "{path}, streamed: {streamed}: {answer}"
            );
        }
    }
}

/// The status and JSON body of a raw request.
async fn raw(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("HTTP {status} answered with non-JSON: {text:?}"));
    (status, body)
}

#[tokio::test]
async fn a_body_that_is_not_one_graphql_request_gets_400_with_a_graphql_error() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for (path, body) in [
        ("/graphql", "\u{0}{{{ not json".to_string()),
        ("/graphql", json!({"query": 5}).to_string()),
        (
            "/graphql",
            json!([{"query": "{ health { status } }"}, {"query": "{ health { status } }"}])
                .to_string(),
        ),
        ("/graphql/sse", "nope".to_string()),
    ] {
        let (status, answer) = raw(client.post(app.url(path)).body(body.clone())).await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "BAD_USER_INPUT"),
            "{path} {body}: {answer}"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.contains("InvalidRequest") && !message.contains("Error("),
            "{message}"
        );
    }
    let (status, answer) =
        raw(client.get(app.url("/graphql/sse?query={health{status}}&variables=%7B"))).await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, "BAD_USER_INPUT"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_refused_with_405_and_not_run() {
    let app = TestApp::spawn().await;
    let admin = app.admin("acme");
    let mutation = r#"mutation { createApiKey(name: "via-get") { secret } }"#;
    let url = |params: &[(&str, &str)]| {
        url::Url::parse_with_params(&app.url("/graphql"), params).unwrap()
    };
    let response = reqwest::Client::new()
        .get(url(&[("query", mutation)]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    let keys = app
        .gql(Some(&admin), "{ apiKeys { name } }", json!({}))
        .await;
    assert_eq!(
        keys["data"]["apiKeys"],
        json!([]),
        "the mutation must not have run"
    );
    // In a document of several operations, the one named decides.
    let both = format!(
        "query Q {{ health {{ status }} }} mutation M {}",
        &mutation[9..]
    );
    let named = |name: &str| {
        reqwest::Client::new()
            .get(url(&[("query", &both), ("operationName", name)]))
            .bearer_auth(&admin)
            .send()
    };
    let answer: Value = named("Q").await.unwrap().json().await.unwrap();
    assert_eq!(answer["data"]["health"]["status"], "ok", "{answer}");
    assert_eq!(named("M").await.unwrap().status(), 405);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_upgrades_answer_in_json() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let (status, body) = raw(client.get(app.url("/api/v1/nope"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );
    let (status, body) = raw(client.delete(app.url("/api/v1/meet/trigger"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("BAD_USER_INPUT")),
        "{body}"
    );
    // A GET to the WebSocket route without the upgrade: a GraphQL route, so a GraphQL error.
    let (status, body) = raw(client.get(app.url("/graphql/ws"))).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "BAD_USER_INPUT"),
        "{body}"
    );
    // An upgrade in a WebSocket version other than RFC 6455's, or without its key.
    let upgrade = || {
        client
            .get(app.url("/graphql/ws"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
    };
    let refusals = [
        (
            upgrade()
                .header("sec-websocket-version", "8")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            "Sec-WebSocket-Version",
        ),
        (
            upgrade().header("sec-websocket-version", "13"),
            "Sec-WebSocket-Key",
        ),
    ];
    for (request, named) in refusals {
        let (status, body) = raw(request).await;
        assert_eq!((status, error_code(&body)), (400, "BAD_USER_INPUT"));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{body}");
    }
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
    assert_eq!(registered["data"]["health"]["status"], "ok");
    let by_hash = post(json!({"extensions": extensions})).await;
    assert_eq!(by_hash["data"]["health"]["status"], "ok");
}

#[tokio::test]
async fn get_without_a_query_serves_graphiql_and_with_one_runs_it() {
    let app = TestApp::spawn().await;
    let page = app.get_text("/graphql").await;
    assert!(page.contains("graphiql"), "GraphiQL page expected");
    let answer: Value =
        reqwest::get(app.url("/graphql?query=%7B%20health%20%7B%20status%20%7D%20%7D"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(answer["data"]["health"]["status"], "ok");
}

#[tokio::test]
async fn a_websocket_without_a_token_is_closed_with_4403() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws("graphql-transport-ws").await;
    match ws.init(json!({})).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("token"), "{reason}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let mut ws = app.ws("graphql-transport-ws").await;
    match ws.init(json!({"token": "garbage"})).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("malformed"), "{reason}");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_authenticated_in_connection_init_runs_operations_as_that_viewer() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    for payload in [
        json!({"Authorization": format!("Bearer {token}")}),
        json!({"token": token}),
    ] {
        let mut ws = app.ws("graphql-transport-ws").await;
        assert_eq!(ws.init(payload).await.as_json()["type"], "connection_ack");
        ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
            .await;
        let next = ws.next_json().await;
        assert_eq!(next["type"], "next");
        assert_eq!(next["payload"]["data"]["viewer"]["organisationId"], "acme");
        assert_eq!(ws.next_json().await["type"], "complete");
    }
}

#[tokio::test]
async fn a_websocket_client_naming_no_subprotocol_is_spoken_graphql_transport_ws() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let url = app.url("/graphql/ws").replacen("http", "ws", 1);
    let (stream, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(
        response.headers().get("sec-websocket-protocol").is_none(),
        "no protocol is answered when none was asked for"
    );
    let mut ws = common::Ws { stream };
    ws.authenticate(&token).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
        .await;
    assert_eq!(ws.next_json().await["type"], "next");
}

#[tokio::test]
async fn a_client_closing_its_websocket_gets_the_closing_handshake_answered() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    ws.stream
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    match ws.next().await {
        Frame::Closed(code, reason) => assert_eq!((code, reason.as_str()), (1000, "bye")),
        other => panic!("expected the close to be answered, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_shutting_down_closes_each_websocket_with_1001_and_then_stops() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    let stopping = tokio::spawn(app.stop());
    match ws.next().await {
        common::Frame::Closed(code, reason) => {
            assert_eq!(code, 1001);
            assert_eq!(reason, "server shutting down");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server drains once its sockets are closed")
        .unwrap();
}

/// The close code a connection ends with after `messages`, sent in order after the handshake
/// (`None`: no handshake).
async fn closed_with(app: &TestApp, init: Option<Value>, messages: &[Value]) -> (u16, String) {
    let mut ws = app.ws("graphql-transport-ws").await;
    if let Some(payload) = init {
        assert_eq!(ws.init(payload).await.as_json()["type"], "connection_ack");
    }
    for message in messages {
        ws.send(message.clone()).await;
    }
    loop {
        match ws.next().await {
            Frame::Closed(code, reason) => return (code, reason),
            Frame::Json(_) => continue,
        }
    }
}

#[tokio::test]
async fn protocol_violations_close_the_websocket_with_graphql_transport_ws_codes() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let init = || Some(json!({"token": token}));
    let subscribe = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription($id: ID!) { botStatus(botId: $id) { status } }", "variables": {"id": "missing"}}});

    let (code, _) = closed_with(&app, None, &[subscribe("1")]).await;
    assert_eq!(code, 4401, "subscribing before connection_init");
    let (code, reason) = closed_with(&app, init(), &[json!({"type": "launch"})]).await;
    assert_eq!(code, 4400, "an unknown message type");
    assert!(reason.starts_with("Invalid message"), "{reason}");
    let (code, _) = closed_with(&app, init(), &[json!({"type": "connection_init"})]).await;
    assert_eq!(code, 4429, "a second connection_init");
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_closes_that_connection_only() {
    let app = TestApp::builder()
        .config(|c| c.graphql.body_limit = 4096)
        .spawn()
        .await;
    let token = app.token("ann", "acme", Role::Admin);
    let padding = "x".repeat(8192);
    let (code, _) = closed_with(
        &app,
        Some(json!({"token": token})),
        &[json!({"type": "ping", "payload": {"padding": padding}})],
    )
    .await;
    assert_eq!(code, 1009, "message too big");
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.authenticate(&token).await;
}

#[tokio::test]
async fn metrics_answer_only_the_metrics_token_once_one_is_set() {
    const TOKEN: &str = "scraper-token-0123456789";
    let app = TestApp::builder()
        .config(|c| c.metrics_token = Some(TOKEN.into()))
        .spawn()
        .await;
    let scrape = |credential: Option<String>| {
        let mut request = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        request.send()
    };
    // An organisation's admin is not the operator: metrics count every organisation.
    for refused in [None, Some("wrong".to_string()), Some(app.admin("acme"))] {
        let response = scrape(refused.clone()).await.unwrap();
        assert_eq!(response.status(), 401, "{refused:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHENTICATED", "{body}");
    }
    let scraped = scrape(Some(TOKEN.into())).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("switchboard_jobs"));
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    ws.send(json!({"type": "ping"})).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_QUERY}}))
        .await;
    // `next` skips pings but not pongs: the pong comes first, then the operation's frames.
    assert_eq!(ws.next_json().await["type"], "pong");
    assert_eq!(ws.next_json().await["type"], "next");
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_every_frame_whole_and_in_order_once_it_reads_again() {
    let app = TestApp::spawn().await;
    let mut ws = app.ws_as_admin().await;
    // Far more than the loopback socket's buffers hold, so the server has to hold the rest
    // back until the client reads again; as many operations as one connection may run, since
    // those held back are still running.
    let schema = "__schema { types { name kind description \
        fields { name description type { name kind ofType { name kind } } args { name description } } \
        inputFields { name description type { name kind ofType { name kind } } } \
        enumValues { name description } } }";
    let query =
        format!("{{ a: {schema} b: {schema} c: {schema} d: {schema} e: {schema} f: {schema} }}");
    let operations = switchboard::graphql::websocket::MAX_OPERATIONS;
    for id in 0..operations {
        ws.send(json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": query}}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut bytes = 0;
    for id in 0..operations {
        let next = ws.next_json().await;
        assert_eq!(
            (next["type"].as_str(), next["id"].as_str()),
            (Some("next"), Some(id.to_string().as_str())),
            "operation {id}'s answer comes next"
        );
        assert!(
            next["payload"]["data"]["f"]["types"].is_array(),
            "operation {id}: {}",
            next["payload"]
        );
        bytes += next.to_string().len();
        let complete = ws.next_json().await;
        assert_eq!(
            (complete["type"].as_str(), complete["id"].as_str()),
            (Some("complete"), Some(id.to_string().as_str()))
        );
    }
    assert!(
        bytes > 12 * 1024 * 1024,
        "only {bytes} bytes: the socket's buffers could have held them all"
    );
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_is_spoken_too() {
    let app = app_keeping_alive_every_second().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-ws").await;
    ws.authenticate(&token).await;
    // Right after the ack, as Apollo's servers did, and then at every keep-alive.
    for _ in 0..2 {
        assert_eq!(next_text(&mut ws).await["type"], "ka");
    }
    ws.send(json!({"id": "7", "type": "start", "payload": {"query": VIEWER_QUERY}}))
        .await;
    let data = ws.next_json().await;
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["viewer"]["userId"], "ann");

    let mut refused = app.ws("graphql-ws").await;
    let frame = refused.init(json!({})).await;
    assert_eq!(frame.as_json()["type"], "connection_error");
}

#[tokio::test]
async fn operations_run_over_server_sent_events_with_the_callers_token() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let body = reqwest::Client::new()
        .post(app.url("/graphql/sse"))
        .bearer_auth(&token)
        .json(&json!({"query": VIEWER_QUERY}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("event: next"), "{body}");
    assert!(body.contains("\"organisationId\":\"acme\""), "{body}");
    assert!(body.contains("event: complete"), "{body}");
}

#[tokio::test]
async fn a_mutation_sent_by_get_over_server_sent_events_is_refused_not_run() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mutation = "mutation { createApiKey(name: \"by-get\", role: VIEWER) { secret } }";
    let url = url::Url::parse_with_params(&app.url("/graphql/sse"), [("query", mutation)]).unwrap();
    let body = reqwest::Client::new()
        .get(url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("BAD_USER_INPUT") && body.contains("need POST"),
        "{body}"
    );
    let keys = app
        .gql(Some(&token), "{ apiKeys { name } }", json!({}))
        .await;
    assert_eq!(keys["data"]["apiKeys"], json!([]), "no key was made");
}

#[tokio::test]
async fn operations_endpoints_answer_and_every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    let healthz = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(healthz.status(), 200);
    assert!(healthz.headers().get("x-request-id").is_some());
    let readyz: Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["database"], "up");
    app.gql(None, "{ health { status } }", json!({})).await;
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("switchboard_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_jobs{state=\"queued\"}"),
        "{metrics}"
    );
    // A request id sent by the caller is kept, so logs line up across services.
    let echoed = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
    let dashboard = app.get_text("/playground").await;
    assert!(
        dashboard.contains("graphql-transport-ws"),
        "the dashboard follows subscriptions live"
    );
}

#[test]
fn schema_graphql_matches_the_code() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql is checked in");
    assert!(
        checked_in == switchboard::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn rs256_tokens_are_checked_with_the_configured_public_key() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let public_key = format!("{fixtures}/rs256-public.pem");
    let app = TestApp::builder()
        .config(move |c| {
            c.auth.jwt_secret = None;
            c.auth.jwt_public_key = Some(public_key);
        })
        .spawn()
        .await;
    let private = std::fs::read(format!("{fixtures}/rs256-private.pem")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "ivy".into(),
        org: Some("initech".into()),
        role: Some("viewer".into()),
        exp: now + 600,
        iat: now,
    };
    let sign = |claims: &Claims| {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
        )
        .unwrap()
    };
    let signed = app.gql(Some(&sign(&claims)), VIEWER_QUERY, json!({})).await;
    assert_eq!(signed["data"]["viewer"]["organisationId"], "initech");

    // An HS256 token made with the public key as its secret is the classic confusion attack.
    let forged = JwtKeys::hs256(&std::fs::read(format!("{fixtures}/rs256-public.pem")).unwrap())
        .issue("ivy", Some("initech"), Role::Admin, 600)
        .unwrap();
    let refused = app.gql(Some(&forged), VIEWER_QUERY, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
}

async fn app_keeping_alive_every_second() -> TestApp {
    TestApp::builder()
        .config(|c| c.graphql.keep_alive_secs = 1)
        .spawn()
        .await
}

/// The next text message, skipping WebSocket pings (which the client answers by itself).
async fn next_text(ws: &mut common::Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("a message within 5 s");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_idle_websocket_is_pinged_and_dropped_once_the_client_stops_answering() {
    let app = app_keeping_alive_every_second().await;
    let token = app.token("ann", "acme", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;

    // A client that reads answers each ping with a pong, and stays connected.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while let Ok(message) = tokio::time::timeout_at(until, ws.stream.next()).await {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings in 3.5 s at one a second");

    // One that stops reading sends no pong: the ping after next finds nothing heard, and
    // the server lets the connection go.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Reading again answers the pings it finds, so only a deadline tells a drop from a stay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .expect("the server ends a connection that stopped answering");
        match message {
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            other => panic!("expected the end, got {other:?}"),
        }
    }
}

#[test]
fn switches_set_in_the_environment_take_1_and_yes_as_well_as_true() {
    let dir = std::env::temp_dir().join(format!("switchboard-env-{}", uuid::Uuid::new_v4()));
    for (value, works) in [("1", true), ("yes", true), ("true", true), ("maybe", false)] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["token", "--sub", "ann"])
            .env("SWITCHBOARD_SANDBOX", value)
            .env("SWITCHBOARD_DATA_DIR", &dir)
            .env_remove("JWT_SECRET")
            .output()
            .unwrap();
        assert_eq!(
            output.status.success(),
            works,
            "SWITCHBOARD_SANDBOX={value}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if works {
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).split('.').count(),
                3
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn instances_starting_together_on_a_new_database_both_come_up() {
    let db = common::TestDb::new().await;
    let (first, second) = if db.is_postgres() {
        // They take turns at the migrations: one applies them, the other finds them done.
        tokio::join!(
            TestApp::builder().db(&db).spawn(),
            TestApp::builder().db(&db).spawn()
        )
    } else {
        // An embedded SQLite file belongs to one process at a time: the second starts on
        // the database the first migrated.
        let first = TestApp::builder().db(&db).spawn().await;
        (first, TestApp::builder().db(&db).spawn().await)
    };
    for app in [&first, &second] {
        let health = app.gql(None, "{ health { database } }", json!({})).await;
        assert_eq!(health["data"]["health"]["database"], "up");
    }
}
