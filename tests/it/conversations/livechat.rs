//! Live chat: take over and release, notes, a manager's answer through the channel, and the
//! conversation as CSV; seen by a second manager as it happens; refused to viewers and to
//! other organisations.

use serde_json::{json, Value};
use switchboard::auth::Role;

use super::fakes::{telegram_update, ChatFakes};
use super::{answered, app_with, connect_telegram, conversations_when, deliver, messages};
use crate::agents::create_agent;
use crate::common::{error_code, TestApp};

const TAKE_OVER: &str = "mutation($id: ID!) { takeOverConversation(id: $id) { manualMode } }";
const RELEASE: &str = "mutation($id: ID!) { releaseConversation(id: $id) { manualMode } }";
const NOTE: &str = "mutation($id: ID!, $text: String!) { addConversationNote(id: $id, text: $text) { author text } }";
const SEND: &str = "mutation($id: ID!, $text: String!) { sendManagerMessage(id: $id, text: $text) { role text author delivery } }";
const EVENTS: &str =
    "subscription($agent: ID!) { agentEvents(agentId: $agent) { kind detail conversationId } }";

/// A conversation with one customer message answered; its id and the agent's.
async fn conversation(fakes: &ChatFakes, text: &str) -> (TestApp, String, String, String, String) {
    let app = app_with(fakes).await;
    let agent = create_agent(&app, "acme", json!({})).await;
    let (integration, secret) = connect_telegram(&app, fakes, "acme", &agent).await;
    deliver(&app, &integration, &secret, &telegram_update(1, 42, text)).await;
    let list = conversations_when(&app, "acme", None, answered).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    (app, agent, integration, secret, id)
}

#[tokio::test]
async fn a_manager_takes_over_notes_answers_and_releases_while_another_manager_watches() {
    let fakes = ChatFakes::start().await;
    let (app, agent, integration, secret, id) = conversation(&fakes, "I need a person").await;
    let mut watcher = app.ws_as_admin().await;
    watcher.send(json!({"id": "e", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"agent": agent}}})).await;
    let mia = app.token("mia", "acme", Role::Manager);

    let taken = app.gql(Some(&mia), TAKE_OVER, json!({"id": id})).await;
    assert_eq!(taken["data"]["takeOverConversation"]["manualMode"], true);
    let event = watcher.next_json().await;
    assert_eq!(
        event["payload"]["data"]["agentEvents"]["kind"],
        "MANUAL_MODE_CHANGED"
    );
    assert!(event["payload"]["data"]["agentEvents"]["detail"]
        .as_str()
        .unwrap()
        .contains("mia"));

    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(2, 42, "Hello?"),
    )
    .await;
    let waiting = watcher.next_json().await;
    assert_eq!(
        waiting["payload"]["data"]["agentEvents"]["kind"],
        "AWAITING_MANAGER"
    );

    let noted = app
        .gql(
            Some(&mia),
            NOTE,
            json!({"id": id, "text": "Customer requested refund"}),
        )
        .await;
    assert_eq!(noted["data"]["addConversationNote"]["author"], "mia");
    let event = watcher.next_json().await;
    assert_eq!(
        event["payload"]["data"]["agentEvents"]["kind"],
        "NOTE_ADDED"
    );

    let sent = app
        .gql(
            Some(&mia),
            SEND,
            json!({"id": id, "text": "Hello from manager!"}),
        )
        .await;
    let sent = &sent["data"]["sendManagerMessage"];
    assert_eq!(sent["role"], "MANAGER");
    assert_eq!(sent["author"], "mia");
    assert_eq!(sent["delivery"], "SENT");
    let telegram = fakes.telegram_sent().await;
    assert_eq!(telegram.last().unwrap()["text"], "Hello from manager!");

    let list = conversations_when(&app, "acme", None, |l| messages(&l[0]).len() == 4).await;
    let said = messages(&list[0]);
    assert_eq!(said[2]["text"], "Hello?", "no AI answer in manual mode");
    assert_eq!(said[3]["role"], "MANAGER");

    let released = app.gql(Some(&mia), RELEASE, json!({"id": id})).await;
    assert_eq!(released["data"]["releaseConversation"]["manualMode"], false);
    deliver(
        &app,
        &integration,
        &secret,
        &telegram_update(3, 42, "Thanks"),
    )
    .await;
    conversations_when(&app, "acme", None, |l| {
        messages(&l[0]).len() == 6 && answered(l)
    })
    .await;
}

#[tokio::test]
async fn the_seeds_rest_takes_over_notes_and_sends() {
    let fakes = ChatFakes::start().await;
    let (app, _agent, _integration, _secret, id) = conversation(&fakes, "Hi").await;
    let client = reqwest::Client::new();
    let admin = app.admin("acme");
    let taken: Value = client
        .post(app.url(&format!("/api/conversations/{id}/takeover")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(taken["manual_mode"], true);
    let noted = client
        .post(app.url(&format!("/api/conversations/{id}/notes")))
        .bearer_auth(&admin)
        .json(&json!({"notes": "Customer requested refund"}))
        .send()
        .await
        .unwrap();
    assert_eq!(noted.status(), 200);
    let sent: Value = client
        .post(app.url(&format!("/api/conversations/{id}/messages")))
        .bearer_auth(&admin)
        .json(&json!({"message": "Hello from manager!"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["message"]["role"], "manager");
    assert_eq!(sent["message"]["delivery_status"], "sent");
    let notes = app
        .gql(
            Some(&admin),
            "query($id: ID!) { conversation(id: $id) { notes { author text } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        notes["data"]["conversation"]["notes"][0]["text"],
        "Customer requested refund"
    );
}

#[tokio::test]
async fn an_export_reads_back_as_csv_with_its_quoting_and_no_formulas() {
    let fakes = ChatFakes::start().await;
    let tricky = "=HYPERLINK(\"http://evil\"), \"quoted\"\nsecond line 😀";
    let (app, _agent, _integration, _secret, id) = conversation(&fakes, tricky).await;
    let admin = app.admin("acme");
    let link = app
        .gql(
            Some(&admin),
            "query($id: ID!) { conversation(id: $id) { exportUrl } }",
            json!({"id": id}),
        )
        .await;
    let url = link["data"]["conversation"]["exportUrl"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let response = reqwest::get(app.url(path)).await.unwrap();
    assert_eq!(response.status(), 200, "the signed link needs no token");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[3], "text");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][1], "USER");
    assert_eq!(
        &rows[0][3],
        format!("'{tricky}"),
        "read back whole, neutralised"
    );
    assert_eq!(&rows[1][1], "ASSISTANT");

    let tampered = path.replace("sig=", "sig=00");
    assert_eq!(
        reqwest::get(app.url(&tampered)).await.unwrap().status(),
        401
    );
    let no_link = path.split('?').next().unwrap();
    assert_eq!(reqwest::get(app.url(no_link)).await.unwrap().status(), 401);
    app.services.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(
        reqwest::get(app.url(path)).await.unwrap().status(),
        401,
        "expired"
    );
    let with_token = reqwest::Client::new()
        .get(app.url(no_link))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
}

#[tokio::test]
async fn viewers_and_other_organisations_cannot_act_on_a_conversation() {
    let fakes = ChatFakes::start().await;
    let (app, _agent, _integration, _secret, id) = conversation(&fakes, "Hi").await;
    let viewer = app.token("vic", "acme", Role::Viewer);
    let outsider = app.admin("globex");
    for (who, token, code) in [
        ("viewer", &viewer, "FORBIDDEN"),
        ("outsider", &outsider, "NOT_FOUND"),
    ] {
        for query in [TAKE_OVER, RELEASE] {
            let answer = app.gql(Some(token), query, json!({"id": id})).await;
            assert_eq!(error_code(&answer), code, "{who}: {query}");
        }
        let answer = app
            .gql(Some(token), NOTE, json!({"id": id, "text": "x"}))
            .await;
        assert_eq!(error_code(&answer), code, "{who} note");
        let answer = app
            .gql(Some(token), SEND, json!({"id": id, "text": "x"}))
            .await;
        assert_eq!(error_code(&answer), code, "{who} send");
    }
    let rest = reqwest::Client::new()
        .get(app.url(&format!("/api/conversations/{id}/export")))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 404);
    assert_eq!(
        fakes.telegram_sent().await.len(),
        1,
        "only the agent's answer went out"
    );
}
