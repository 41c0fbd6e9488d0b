//! Telegram long polling: each page stored with its offset, never asked for again; a token
//! Telegram refuses fails the integration.

use serde_json::{json, Value};
use switchboard::channels::INBOUND_JOB;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::*;
use crate::agents::create_agent;

fn text_update(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": message_id,
        "from": {"id": 555, "is_bot": false, "first_name": "Anna"},
        "chat": {"id": 555, "type": "private"}, "date": 1749416383, "text": text}})
}

/// Has the fake answer the getUpdates calls `matching` with `answer`, before its default.
async fn get_updates_answers(
    fake: &MockServer,
    matching: impl wiremock::Match + 'static,
    answer: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/getUpdates")))
        .and(matching)
        .respond_with(answer)
        .with_priority(1)
        .mount(fake)
        .await;
}

/// The offsets getUpdates was asked with, in order.
async fn offsets(fake: &MockServer) -> Vec<Value> {
    fake.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/getUpdates"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["offset"].clone())
        .collect()
}

#[tokio::test]
async fn a_page_of_updates_is_stored_with_its_offset_and_never_asked_for_again() {
    let fake = telegram_fake().await;
    let page = json!({"ok": true, "result": [
        text_update(10001, 42, "Hello"),
        {"update_id": 10002, "message": {"message_id": 43, "from": {"id": 555, "is_bot": false},
            "chat": {"id": 555, "type": "private"}, "date": 1749416384, "sticker": {}}},
        text_update(10003, 44, "Are you there?"),
    ]});
    // The first poll (no offset yet) gets the page; later ones, past it, get nothing.
    let first = body_partial_json(json!({"offset": null}));
    get_updates_answers(&fake, first, ResponseTemplate::new(200).set_body_json(page)).await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let id = connected_id(&connect(&app, "acme", telegram_input(&agent)).await);
    let asked = &fake;
    eventually("a poll past the page", || async move {
        offsets(asked).await.contains(&json!(10004))
    })
    .await;
    let jobs = jobs_of(&app, INBOUND_JOB).await;
    // Jobs made in the same millisecond have no order between them.
    let mut texts: Vec<&str> = jobs
        .iter()
        .map(|job| job["message"]["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable_by_key(|text| *text != "Hello");
    assert_eq!(
        texts,
        ["Hello", "Are you there?"],
        "the sticker is only confirmed"
    );
    assert!(jobs.iter().all(|job| job["integration_id"] == id.as_str()));
    let stored = "SELECT poll_offset FROM integrations WHERE id = $1";
    assert_eq!(count(&app, stored, &id).await, 10003);
    let asked = offsets(&fake).await;
    assert_eq!(asked[0], Value::Null);
    assert!(
        asked[1..].iter().all(|offset| *offset == json!(10004)),
        "never the page again: {asked:?}"
    );
}

#[tokio::test]
async fn a_token_telegram_refuses_while_polling_fails_the_integration_with_its_reason() {
    let fake = telegram_fake().await;
    let refused = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
    let every = body_partial_json(json!({}));
    get_updates_answers(
        &fake,
        every,
        ResponseTemplate::new(401).set_body_json(refused),
    )
    .await;
    let app = app_with(&fake, false).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let id = connected_id(&connect(&app, "acme", telegram_input(&agent)).await);
    let query = "query($id: ID!) { integration(id: $id) { state stateReason } }";
    let admin = app.admin("acme");
    let (by, id_ref) = (&app, &id);
    eventually("the integration failing", || async move {
        let seen = by
            .gql(Some(&by.admin("acme")), query, json!({"id": id_ref}))
            .await;
        seen["data"]["integration"]["state"] == "FAILED"
    })
    .await;
    let seen = app.gql(Some(&admin), query, json!({"id": id})).await;
    let reason = seen["data"]["integration"]["stateReason"].as_str().unwrap();
    assert!(reason.contains("refused the bot token"), "{reason}");
    assert!(!reason.contains(BOT_TOKEN));
    let failed =
        "SELECT COUNT(*) FROM agent_events WHERE integration_id = $1 AND detail LIKE '%failed%'";
    assert_eq!(count(&app, failed, &id).await, 1, "an agent event says so");
    let health = app.gql(None, "{ health { status } }", json!({})).await;
    assert_eq!(health["data"]["health"]["status"], "DEGRADED");
}
