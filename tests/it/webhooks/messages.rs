//! Conversations' events: every stored message, in the conversation's order.

use serde_json::json;

use super::endpoint;
use super::receiver::{verifies, Receiver};
use crate::agents::create_agent;
use crate::conversations::fakes::{telegram_update, ChatFakes};
use crate::conversations::{app_with, connect_telegram, deliver};

#[tokio::test]
async fn a_customers_message_and_the_agents_reply_are_delivered_in_order() {
    let fakes = ChatFakes::start().await;
    let app = app_with(&fakes).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (integration, secret) = connect_telegram(&app, &fakes, "acme", &agent).await;
    let receiver = Receiver::start().await;
    let (_, signing) = endpoint(&app, "acme", &receiver.url, &["MESSAGE_CREATED"]).await;

    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(1, 42, "Hello there"),
    )
    .await;
    let received = receiver.wait_for(2).await;
    let bodies: Vec<_> = received.iter().map(|r| r.json()).collect();
    assert!(received.iter().all(|r| verifies(&signing, r)));
    assert!(bodies.iter().all(|b| b["type"] == "message.created"));
    assert_eq!(bodies[0]["data"]["role"], "USER");
    assert_eq!(bodies[0]["data"]["text"], "Hello there");
    assert_eq!(bodies[1]["data"]["role"], "ASSISTANT");
    assert_eq!(
        bodies[0]["data"]["conversationId"],
        bodies[1]["data"]["conversationId"]
    );
    assert!(bodies[0]["data"]["sequence"].as_i64() < bodies[1]["data"]["sequence"].as_i64());
}
