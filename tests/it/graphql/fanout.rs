//! One execution for many subscribers of the same subscription.

use serde_json::json;
use switchboard::meetings::sync_once;

use crate::common::follow::{
    read_until_complete, subscribe, wait_for_executions, walk_with_sequences,
};
use crate::common::scene::Scene;

#[tokio::test]
async fn identical_subscriptions_share_one_execution_and_each_still_sees_every_status_once() {
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::new().await;
    fakes.pipeline_succeeds().await;
    // Five dashboards of the same organisation and role, same document and variables.
    let mut followers = Vec::new();
    for _ in 0..5 {
        followers.push(subscribe(&app, &token, &id, None).await);
    }
    wait_for_executions(&app, 1).await;
    for state in ["joining", "awaiting_admission", "active"] {
        fakes.bot_reports("ext-1", state, json!({})).await;
        sync_once(&app.services).await.unwrap();
    }
    // One more joins mid-flow: its own head (the current state), then the group's frames.
    followers.push(subscribe(&app, &token, &id, None).await);
    fakes
        .bot_reports(
            "ext-1",
            "completed",
            json!({"recording_url": fakes.audio_url()}),
        )
        .await;
    sync_once(&app.services).await.unwrap();

    let all = walk_with_sequences();
    let late = followers.pop().unwrap();
    for (mut ws, seen) in followers {
        assert_eq!(read_until_complete(&mut ws, seen).await, all);
    }
    let (mut ws, seen) = late;
    assert_eq!(
        read_until_complete(&mut ws, seen).await,
        all[3..],
        "the late subscriber starts at the state it joined in"
    );
    wait_for_executions(&app, 0).await;
}

#[tokio::test]
async fn a_subscriber_leaving_stops_its_execution() {
    let Scene {
        app,
        token,
        bot: id,
        ..
    } = Scene::new().await;
    let (first, _) = subscribe(&app, &token, &id, None).await;
    let (second, _) = subscribe(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;
    drop(first);
    drop(second);
    wait_for_executions(&app, 0).await;
}
