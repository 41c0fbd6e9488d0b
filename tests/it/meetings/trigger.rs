//! Sending a bot into a meeting, and reading and listing bots: who may, and what is refused.

use serde_json::{json, Value};
use switchboard::auth::Role;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{seed_status, signed_done_callback, STOP};
use crate::common::fakes::{Fakes, BOT_SECRET};
use crate::common::scene::{app_with, bot, trigger, Scene, BOT, MEET, TRIGGER};
use crate::common::{error_code, TestApp};

#[tokio::test]
async fn an_invalid_meeting_url_is_refused_and_nothing_is_created() {
    let fakes = Fakes::start().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    for url in [
        "https://example.com/abc-defg-hij",
        "meet.google.com/abc-defg-hij",
        "https://meet.google.com/abc",
    ] {
        let response = trigger(&app, &token, url).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{url}");
    }
    let listed = app
        .gql(
            Some(&token),
            "{ meetingBots { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["meetingBots"]["edges"], json!([]));
    assert!(
        fakes.bots.received_requests().await.unwrap().is_empty(),
        "the bot service was never asked"
    );
}

#[tokio::test]
async fn control_characters_and_credentials_in_input_are_refused_and_nul_ids_are_not_found() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    // Postgres cannot store U+0000, so each of these would otherwise fail inside the database.
    let named = |name: &str, key: Option<&str>| json!({"url": "https://meet.google.com/qqq-wwww-eee", "name": name, "key": key});
    for variables in [
        named("Scri\u{0}be", None),
        named("Scri\u{7}be", None),
        named("Scribe", Some("key\u{0}")),
        json!({"url": "https://ann:pw@meet.google.com/qqq-wwww-eee", "name": "Scribe", "key": null}),
    ] {
        let response = app
            .gql(
                Some(&token),
                "mutation($url: String!, $name: String!, $key: String) {
                   triggerMeetingBot(input: {meetUrl: $url, botName: $name, idempotencyKey: $key}) { id }
                 }",
                variables.clone(),
            )
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{variables}: {response}"
        );
    }
    let key = app
        .gql(
            Some(&app.admin("acme")),
            r#"mutation { createApiKey(name: "ci\u0000") { secret } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&key), "BAD_USER_INPUT", "{key}");

    for wanted in ["a\u{0}b", &format!("{id}\u{0}")] {
        let response = app.gql(Some(&token), BOT, json!({"id": wanted})).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{response}");
    }
    let status = seed_status(&app, Some(&token), "a%00b").await;
    assert_eq!(status.status(), 404);

    let body = json!({"bot_id": "ext-1", "session_id": "sess\u{0}ion", "result_data": {"summary": "a\u{0}b"}});
    let callback = signed_done_callback(&app, BOT_SECRET, &body).await;
    assert_eq!(callback.status(), 422);
    let answer: Value = callback.json().await.unwrap();
    assert_eq!(answer["code"], "BAD_USER_INPUT", "{answer}");
    assert_eq!(
        bot(&app, &token, &id).await["status"],
        "INITIALIZED",
        "nothing changed"
    );
    assert_eq!(
        fakes.bots.received_requests().await.unwrap().len(),
        1,
        "only the scene's own bot was started"
    );
}

#[tokio::test]
async fn a_second_trigger_for_an_active_meeting_conflicts_unless_it_repeats_the_key() {
    let fakes = Fakes::start().await;
    fakes.bot_service_starts("ext-1").await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let first = app
        .gql(Some(&token), TRIGGER, json!({"url": MEET, "key": "req-42"}))
        .await;
    let first_id = first["data"]["triggerMeetingBot"]["id"].clone();

    let again = app
        .gql(Some(&token), TRIGGER, json!({"url": MEET, "key": "req-42"}))
        .await;
    assert_eq!(again["data"]["triggerMeetingBot"]["id"], first_id);
    let elsewhere = app
        .gql(
            Some(&token),
            TRIGGER,
            json!({"url": "https://zoom.us/j/812345678", "key": "req-42"}),
        )
        .await;
    assert_eq!(
        error_code(&elsewhere),
        "CONFLICT",
        "a key reused for another meeting is not a replay: {elsewhere}"
    );
    let conflict = app.gql(Some(&token), TRIGGER, json!({"url": MEET})).await;
    assert_eq!(error_code(&conflict), "CONFLICT");
    // Another organisation may send its own bot to the same meeting.
    let other = app.token("eve", "globex", Role::Manager);
    fakes.bot_service_starts("ext-2").await;
    assert_eq!(
        trigger(&app, &other, MEET).await["data"]["triggerMeetingBot"]["status"],
        "INITIALIZED"
    );
}

#[tokio::test]
async fn another_organisation_cannot_read_stop_or_follow_a_bot_and_viewers_cannot_trigger() {
    let Scene {
        fakes: _fakes,
        app,
        token: _,
        bot: id,
    } = Scene::new().await;
    let eve = app.token("eve", "globex", Role::Admin);

    let read = app.gql(Some(&eve), BOT, json!({"id": id})).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let stop = app.gql(Some(&eve), STOP, json!({"id": id})).await;
    assert_eq!(error_code(&stop), "NOT_FOUND");
    let listed = app
        .gql(
            Some(&eve),
            "{ meetingBots { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["meetingBots"]["edges"], json!([]));

    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": eve})).await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { botStatus(botId: $id) { status } }", "variables": {"id": id}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    assert_eq!(refused["payload"]["data"], Value::Null);
    assert_eq!(ws.next_json().await["type"], "complete");

    let viewer = app.token("vic", "acme", Role::Viewer);
    let denied = trigger(&app, &viewer, "https://meet.google.com/xyz-abcd-efg").await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    assert_eq!(
        bot(&app, &viewer, &id).await["status"],
        "INITIALIZED",
        "viewers may read"
    );
}

#[tokio::test]
async fn a_bot_service_that_cannot_start_the_bot_leaves_it_in_error() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/bots/start"))
        .respond_with(ResponseTemplate::new(500).set_body_string("no capacity"))
        .mount(&fakes.bots)
        .await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    let response = trigger(&app, &token, MEET).await;
    assert_eq!(error_code(&response), "PROVIDER_ERROR");
    let listed = app
        .gql(
            Some(&token),
            "{ meetingBots(status: ERROR) { edges { node { errorMessage } } } }",
            json!({}),
        )
        .await;
    let message = listed["data"]["meetingBots"]["edges"][0]["node"]["errorMessage"]
        .as_str()
        .unwrap();
    assert!(message.contains("no capacity"), "{message}");
    // The meeting is free again for a new bot.
    fakes.bots.reset().await;
    fakes.bot_service_starts("ext-9").await;
    assert_eq!(
        trigger(&app, &token, MEET).await["data"]["triggerMeetingBot"]["status"],
        "INITIALIZED"
    );
}

#[tokio::test]
async fn bots_are_listed_newest_first_a_page_at_a_time() {
    let fakes = Fakes::start().await;
    let app = app_with(&fakes).await;
    let token = app.token("ann", "acme", Role::Manager);
    for (n, url) in [
        "https://meet.google.com/aaa-aaaa-aaa",
        "https://meet.google.com/bbb-bbbb-bbb",
        "https://meet.google.com/ccc-cccc-ccc",
    ]
    .iter()
    .enumerate()
    {
        fakes.bot_service_starts(&format!("ext-{n}")).await;
        trigger(&app, &token, url).await;
    }
    let page = |after: Option<String>| {
        let app = &app;
        let token = token.clone();
        async move {
            app.gql(Some(&token), "query($after: String) { meetingBots(first: 2, after: $after) { edges { cursor node { nativeMeetingId } } pageInfo { hasNextPage } } }", json!({"after": after})).await
        }
    };
    let first = page(None).await;
    let edges = first["data"]["meetingBots"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["node"]["nativeMeetingId"], "ccc-cccc-ccc");
    assert_eq!(
        first["data"]["meetingBots"]["pageInfo"]["hasNextPage"],
        true
    );
    let second = page(edges[1]["cursor"].as_str().map(str::to_string)).await;
    assert_eq!(
        second["data"]["meetingBots"]["edges"][0]["node"]["nativeMeetingId"],
        "aaa-aaaa-aaa"
    );
    assert_eq!(
        second["data"]["meetingBots"]["pageInfo"]["hasNextPage"],
        false
    );
    // Each listed bot gets its own history, loaded for the whole page at once.
    let with_history = app
        .gql(Some(&token), "{ meetingBots { edges { node { nativeMeetingId statusHistory { sequence status } tasks { title } transcript { text } } } } }", json!({}))
        .await;
    let nodes = with_history["data"]["meetingBots"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(nodes.len(), 3);
    for node in nodes {
        assert_eq!(
            node["node"]["statusHistory"],
            json!([{"sequence": 1, "status": "INITIALIZED"}]),
            "{node}"
        );
        assert_eq!(node["node"]["tasks"], json!([]));
    }
    let bad = page(Some("not-a-cursor".into())).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn without_a_bot_service_triggering_says_not_configured() {
    let app = TestApp::spawn().await;
    let token = app.token("ann", "acme", Role::Manager);
    assert_eq!(
        error_code(&trigger(&app, &token, MEET).await),
        "NOT_CONFIGURED"
    );
    let health = app
        .gql(None, "{ health { providers { name status } } }", json!({}))
        .await;
    assert_eq!(
        health["data"]["health"]["providers"][0],
        json!({"name": "botService", "status": "NOT_CONFIGURED"})
    );
}
