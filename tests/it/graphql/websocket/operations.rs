//! The operations one WebSocket carries.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;

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
