//! The JavaScript clients integrators use, each run with Node against a server in sandbox
//! mode with an admin's token (`tests/js/clients/`): each triggers a meeting bot and follows
//! `botStatus` to DONE, then plays a sandbox customer and follows `conversationMessages` to
//! the agent's reply. Runs on SQLite, or Postgres with TEST_DATABASE_URL.

use serde_json::{json, Value};

use crate::common::node::node;
use crate::common::TestApp;

/// Runs `tests/js/clients/<script>` against a fresh sandbox server and checks what every
/// client must have seen; its result, for the client's own checks.
async fn play(script: &str) -> Value {
    let app = TestApp::builder()
        .config(|c| c.sandbox = true)
        .spawn()
        .await;
    let token = app.admin("acme");
    let ran = node(
        &format!("clients/{script}"),
        &[
            ("SWITCHBOARD_URL", app.url("").as_str()),
            ("SWITCHBOARD_TOKEN", token.as_str()),
        ],
    )
    .await;
    assert!(ran.success, "{script} failed: {}", ran.output);
    let result = ran.result;

    // The bot's statuses, in order, each once: from the one it had when followed to DONE,
    // as its stored history has them.
    let seen: Vec<(i64, String)> = result["statuses"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}"))
        .iter()
        .map(|s| {
            (
                s["sequence"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let bot = app
        .gql(
            Some(&token),
            "query($id: ID!) { meetingBot(id: $id) { statusHistory { sequence status } } }",
            json!({"id": result["botId"]}),
        )
        .await;
    let history: Vec<(i64, String)> = bot["data"]["meetingBot"]["statusHistory"]
        .as_array()
        .unwrap_or_else(|| panic!("{bot}"))
        .iter()
        .map(|s| {
            (
                s["sequence"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        history.ends_with(&seen),
        "seen {seen:?}, stored {history:?}"
    );
    assert_eq!(seen.last().unwrap().1, "DONE", "{seen:?}");

    // The conversation from its first message, in sequence order, to the reply to the
    // message written while it was followed.
    let messages = result["messages"].as_array().unwrap();
    let sequences: Vec<i64> = messages
        .iter()
        .map(|m| m["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.is_sorted_by(|a, b| a < b), "{sequences:?}");
    assert_eq!(
        messages[0]["text"], "Is the pool open today?",
        "{messages:?}"
    );
    let second = result["second"].as_str().unwrap();
    let asked = messages
        .iter()
        .position(|m| m["role"] == "USER" && m["text"] == second)
        .unwrap_or_else(|| panic!("the second message never arrived: {messages:?}"));
    let reply = messages.last().unwrap();
    assert_eq!(reply["role"], "ASSISTANT", "{reply}");
    assert!(
        reply["text"].as_str().unwrap().contains(second),
        "the agent's reply quotes it: {reply}"
    );
    assert!(asked < messages.len() - 1, "{messages:?}");
    result
}

#[tokio::test]
async fn graphql_ws_client_follows_a_bot_and_a_conversation_over_graphql_transport_ws() {
    let result = play("graphql_ws.js").await;
    assert_eq!(result["protocol"], "graphql-transport-ws");
}

#[tokio::test]
async fn legacy_subscriptions_transport_ws_client_follows_them_over_the_graphql_ws_protocol() {
    let result = play("subscriptions_transport_ws.js").await;
    assert_eq!(result["protocol"], "graphql-ws");
}

#[tokio::test]
async fn graphql_sse_client_follows_them_over_server_sent_events() {
    let result = play("graphql_sse.js").await;
    assert_eq!(result["client"], "graphql-sse");
}

#[tokio::test]
async fn apollo_split_link_sends_mutations_over_http_and_subscriptions_over_the_websocket() {
    let result = play("apollo.js").await;
    let mut routes: Vec<&str> = result["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    routes.sort_unstable();
    assert_eq!(
        routes,
        [
            "BotStatus websocket",
            "CustomerWrites http",
            "Messages websocket",
            "Stop http",
            "Trigger http"
        ]
    );
}

#[tokio::test]
async fn schema_graphql_as_graphql_js_builds_it_is_the_schema_the_server_introspects() {
    let app = TestApp::spawn().await;
    let token = app.admin("acme");
    let ran = node(
        "clients/schema.js",
        &[
            ("SWITCHBOARD_URL", app.url("").as_str()),
            ("SWITCHBOARD_TOKEN", token.as_str()),
        ],
    )
    .await;
    assert!(ran.success, "{}", ran.output);
    assert_eq!(ran.result["differing"], json!([]), "{}", ran.output);
    let subscriptions = &ran.result["subscriptions"];
    for field in ["botStatus", "conversationMessages"] {
        assert!(
            subscriptions.as_array().unwrap().contains(&json!(field)),
            "{subscriptions}"
        );
    }
    assert!(ran.result["types"].as_u64().unwrap() > 50, "{}", ran.result);
}
