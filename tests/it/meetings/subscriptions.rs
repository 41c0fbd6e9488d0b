//! Following a bot's status and transcript: every change once, in order, to whoever may see
//! it.

use serde_json::json;
use switchboard::auth::Role;
use switchboard::meetings::sync_once;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{walk_through_meeting, STOP};
use crate::common::fakes::Fakes;
use crate::common::follow::{
    follow_transcript, read_transcript_until_complete, read_until_complete, subscribe,
    wait_for_executions, walk_with_sequences, FOLLOW, TRANSCRIPT,
};
use crate::common::scene::{wait_for_status, Scene};
use crate::common::{TestApp, Ws};

#[tokio::test]
async fn subscribers_joining_mid_flow_or_resuming_see_every_status_once_in_order() {
    let fakes = Fakes::start().await;
    fakes.pipeline_succeeds().await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::with(fakes).await;

    let (mut from_start, from_start_seen) = subscribe(&app, &token, &id, None).await;
    // Two statuses in, a second subscriber arrives; a third reconnects after sequence 2.
    for state in ["joining", "awaiting_admission"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&app.services).await.unwrap();
    }
    let (mut mid_flow, mid_flow_seen) = subscribe(&app, &token, &id, None).await;
    let (mut resumed, resumed_seen) = subscribe(&app, &token, &id, Some(2)).await;
    fakes.bot_reports("ext-1", "active", json!({})).await;
    sync_once(&app.services).await.unwrap();
    fakes
        .bot_reports(
            "ext-1",
            "completed",
            json!({"recording_url": fakes.audio_url()}),
        )
        .await;
    sync_once(&app.services).await.unwrap();

    let all = walk_with_sequences();
    assert_eq!(
        read_until_complete(&mut from_start, from_start_seen).await,
        all
    );
    assert_eq!(
        read_until_complete(&mut mid_flow, mid_flow_seen).await,
        all[2..],
        "current state first, then every change"
    );
    assert_eq!(
        read_until_complete(&mut resumed, resumed_seen).await,
        all[2..],
        "exactly what came after sequence 2"
    );
}

#[tokio::test]
async fn transcript_subscribers_see_every_segment_once_then_the_stream_ends() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    fakes.pipeline_succeeds().await;
    let mut early = follow_transcript(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;

    walk_through_meeting(&app, &fakes).await;
    wait_for_status(&app, &token, &id, "DONE").await;

    let whole = vec![(1, "Boris".to_string()), (2, "Chen".to_string())];
    assert_eq!(read_transcript_until_complete(&mut early).await, whole);
    let mut late = follow_transcript(&app, &token, &id, None).await;
    assert_eq!(
        read_transcript_until_complete(&mut late).await,
        whole,
        "a finished meeting's whole transcript, then the end"
    );
    let mut resumed = follow_transcript(&app, &token, &id, Some(1)).await;
    assert_eq!(
        read_transcript_until_complete(&mut resumed).await,
        whole[1..],
        "exactly what came after sequence 1"
    );
}

#[tokio::test]
async fn another_organisation_following_a_followed_bot_gets_not_found() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = Scene::new().await;
    let (_acme, seen) = subscribe(&app, &token, &id, None).await;
    assert_eq!(seen, vec![(1, "INITIALIZED".to_string())]);

    let intruder = app.token("eve", "globex", Role::Admin);
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": intruder})).await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id, "after": null}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "next");
    assert!(refused["payload"]["data"].is_null(), "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(ws.next_json().await["type"], "complete");
}

#[tokio::test]
async fn following_from_beyond_the_latest_change_is_refused_and_from_the_final_one_ends_at_once() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    let mut ws = refused_from_beyond(&app, &token, FOLLOW, &id, 5).await;
    assert_eq!(ws.next_json().await["type"], "complete");

    Mock::given(method("DELETE"))
        .and(path("/bots/ext-1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&fakes.bots)
        .await;
    let stopped = app.gql(Some(&token), STOP, json!({"id": id})).await;
    assert_eq!(stopped["data"]["stopMeetingBot"]["status"], "DONE");
    ws.send(json!({"id": "seen-all", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": id, "after": 2}}})).await;
    let ended = ws.next_json().await;
    assert_eq!(
        (ended["type"].as_str(), ended["id"].as_str()),
        (Some("complete"), Some("seen-all")),
        "nothing can follow the DONE the client has seen: {ended}"
    );
}

#[tokio::test]
async fn following_a_transcript_from_beyond_its_last_segment_is_refused() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = Scene::new().await;
    refused_from_beyond(&app, &token, TRANSCRIPT, &id, 3).await;
}

/// Subscribes to `query` for bot `id` from `after`, which must be refused as BAD_USER_INPUT;
/// the socket, still open.
async fn refused_from_beyond(app: &TestApp, token: &str, query: &str, id: &str, after: i64) -> Ws {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(json!({"token": token})).await;
    ws.send(json!({"id": "ahead", "type": "subscribe", "payload": {"query": query, "variables": {"id": id, "after": after}}})).await;
    let refused = ws.next_json().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    ws
}
