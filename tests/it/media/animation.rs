//! Talking-photo animations against fake D-ID and HeyGen servers: done by polling and by
//! the provider's callback, copied into our storage before the provider's link expires,
//! failures said plainly (out of credits, rejected, never finished), a 5xx retried, every
//! step streamed, and the seed's REST; refused to viewers and other organisations.

use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::auth::Role;

use super::uploads::get;
use super::{make_file, memorial, uploaded};
use crate::common::animators::{Call, FakeAnimator, Outcome};
use crate::common::{error_code, TestApp};

const ANIMATE: &str =
    "mutation($input: AnimatePhotoInput!) { animatePhoto(input: $input) { id status provider } }";
const ANIMATION: &str = "query($id: ID!) { animation(id: $id) { id status provider error videoUrl resultMediaId script voiceId steps { sequence status detail } } }";
const RESULT: &str = "query($id: ID!) { media(id: $id) { kind contentType durationSecs width height thumbnailUrl animationId url } }";

/// An app talking to `fake`, with `tweak` applied to its config.
pub async fn app_with(
    fake: &Arc<FakeAnimator>,
    tweak: impl FnOnce(&mut switchboard::config::Config) + 'static,
) -> TestApp {
    let fake = fake.clone();
    TestApp::builder()
        .config(move |c| {
            fake.configure(c);
            tweak(c);
        })
        .spawn()
        .await
}

/// A photo uploaded to a new acme memorial; its media id.
pub async fn photo(app: &TestApp) -> String {
    let memorial = memorial(app, "acme").await;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-anim-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = make_file(&dir, "portrait.jpg", 1.0);
    uploaded(app, &memorial, &file).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn animate(app: &TestApp, input: Value) -> Value {
    let made = app
        .gql(Some(&app.admin("acme")), ANIMATE, json!({"input": input}))
        .await;
    made["data"]["animatePhoto"].clone()
}

async fn animation(app: &TestApp, id: &str) -> Value {
    app.gql(Some(&app.admin("acme")), ANIMATION, json!({"id": id}))
        .await["data"]["animation"]
        .clone()
}

/// Moves the clock a poll period at a time (the job is due on it) until the animation is
/// DONE or FAILED.
pub async fn finished(app: &TestApp, id: &str) -> Value {
    let period = chrono::Duration::seconds(app.services.config.media.animation_poll_secs as i64);
    for _ in 0..400 {
        let now = animation(app, id).await;
        if matches!(now["status"].as_str(), Some("DONE" | "FAILED")) {
            return now;
        }
        app.services.clock.advance(period);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    panic!(
        "animation {id} never finished: {}",
        animation(app, id).await
    );
}

fn statuses(animation: &Value) -> Vec<String> {
    animation["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}

/// The finished animation's video: a probed, thumbnailed medium whose bytes are the
/// provider's, served by us after the provider's own link has expired.
async fn assert_video_kept(app: &TestApp, fake: &FakeAnimator, done: &Value) {
    assert_eq!(done["status"], "DONE", "{done}");
    let media = app
        .gql(
            Some(&app.admin("acme")),
            RESULT,
            json!({"id": done["resultMediaId"]}),
        )
        .await;
    let media = &media["data"]["media"];
    assert_eq!(media["kind"], "VIDEO", "{media}");
    assert_eq!(media["contentType"], "video/mp4");
    assert_eq!(media["animationId"], done["id"]);
    assert!(media["durationSecs"].as_f64().unwrap() > 0.5);
    assert!(media["thumbnailUrl"].is_string());
    let ours = get(app, done["videoUrl"].as_str().unwrap(), None).await;
    assert_eq!(ours.status(), 200);
    assert_eq!(ours.bytes().await.unwrap().to_vec(), fake.video());
}

#[tokio::test]
async fn d_id_animates_a_photo_followed_by_polling_and_the_video_is_kept_before_its_link_expires() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    let photo = photo(&app).await;
    let started = animate(
        &app,
        json!({"mediaId": photo, "script": "Hello, it is me.", "voiceId": "en-US-GuyNeural"}),
    )
    .await;
    assert_eq!(started["status"], "PENDING", "{started}");
    assert_eq!(
        started["provider"], "D_ID",
        "the default when USE_HEYGEN is off"
    );
    let done = finished(&app, started["id"].as_str().unwrap()).await;
    assert_video_kept(&app, &fake, &done).await;
    assert_eq!(
        statuses(&done),
        ["PENDING", "SUBMITTING", "PROCESSING", "DOWNLOADING", "DONE"]
    );
    let creation = &fake.creations().await[0];
    assert_eq!(creation["script"]["input"], "Hello, it is me.");
    assert_eq!(
        creation["script"]["provider"]["voice_id"],
        "en-US-GuyNeural"
    );
    assert_eq!(fake.uploads().await.len(), 1, "the photo went up once");
}

#[tokio::test]
async fn heygen_animates_a_photo_when_asked_by_name_and_by_use_heygen() {
    let fake = Arc::new(FakeAnimator::heygen().await);
    let app = app_with(&fake, |c| c.providers.use_heygen = true).await;
    let photo = photo(&app).await;
    let started = animate(&app, json!({"mediaId": photo, "script": "Hi from HeyGen"})).await;
    assert_eq!(started["provider"], "HEYGEN", "USE_HEYGEN picks it");
    let done = finished(&app, started["id"].as_str().unwrap()).await;
    assert_video_kept(&app, &fake, &done).await;
    let creation = &fake.creations().await[0];
    assert_eq!(
        creation["video_inputs"][0]["voice"]["input_text"],
        "Hi from HeyGen"
    );
    assert_eq!(
        creation["video_inputs"][0]["voice"]["voice_id"],
        "heygen-default-voice"
    );
}

#[tokio::test]
async fn a_providers_callback_finishes_the_animation_without_waiting_for_a_poll() {
    for fake in [FakeAnimator::did().await, FakeAnimator::heygen().await] {
        let fake = Arc::new(fake);
        let app = app_with(&fake, |c| {
            c.providers.did_webhook_url = Some(
                "https://switchboard.test/webhooks/animations"
                    .parse()
                    .unwrap(),
            );
            // Polls an hour apart: only the callback can finish it within the test.
            c.media.animation_poll_secs = 3600;
        })
        .await;
        fake.set_outcome(Outcome::DoneAfter(0));
        let photo = photo(&app).await;
        let provider = if fake.kind() == switchboard::providers::AnimatorKind::DId {
            "D_ID"
        } else {
            "HEYGEN"
        };
        let started = animate(
            &app,
            json!({"mediaId": photo, "script": "Called back", "provider": provider}),
        )
        .await;
        let id = started["id"].as_str().unwrap().to_string();
        let mut processing = animation(&app, &id).await;
        for _ in 0..200 {
            if processing["status"] == "PROCESSING" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            processing = animation(&app, &id).await;
        }
        assert_eq!(processing["status"], "PROCESSING", "{processing}");
        let creation = &fake.creations().await[0];
        let callback = creation["webhook"]
            .as_str()
            .or(creation["callback_url"].as_str())
            .unwrap_or_else(|| panic!("the provider was given a callback: {creation}"));
        let callback: url::Url = callback.parse().unwrap();
        assert_eq!(callback.path(), format!("/webhooks/animations/{id}"));
        let body = fake.callback_body(&remote_id(&app, &id).await);
        let post = |path: String, body: Value| {
            let url = app.url(&path);
            async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // Forged: no token, a wrong token, or about another video.
        assert_eq!(post(callback.path().to_string(), body.clone()).await, 401);
        assert_eq!(
            post(format!("{}?token=abc", callback.path()), body.clone()).await,
            401
        );
        let full = format!("{}?{}", callback.path(), callback.query().unwrap());
        assert_eq!(
            post(full.clone(), fake.callback_body("someone-elses-video")).await,
            401
        );
        assert_eq!(post(full, body).await, 200);
        let mut done = animation(&app, &id).await;
        for _ in 0..200 {
            if done["status"] == "DONE" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            done = animation(&app, &id).await;
        }
        assert_video_kept(&app, &fake, &done).await;
    }
}

/// The provider's id of the animation, as stored.
async fn remote_id(app: &TestApp, id: &str) -> String {
    app.sql_text("SELECT remote_id FROM animations WHERE id = $1", id)
        .await
}

#[tokio::test]
async fn out_of_credits_fails_at_once_with_a_message_a_person_understands() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    fake.out_of_credits();
    let photo = photo(&app).await;
    let started = animate(&app, json!({"mediaId": photo, "script": "No money"})).await;
    let failed = finished(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "FAILED");
    assert!(
        failed["error"].as_str().unwrap().contains("out of credits"),
        "{failed}"
    );
    assert_eq!(fake.creations().await.len(), 1, "402 is not retried");
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_animation_still_finishes() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    fake.server_error(Call::Create, 1);
    fake.server_error(Call::Status, 1);
    let photo = photo(&app).await;
    let started = animate(&app, json!({"mediaId": photo, "script": "Try again"})).await;
    let done = finished(&app, started["id"].as_str().unwrap()).await;
    assert_video_kept(&app, &fake, &done).await;
}

#[tokio::test]
async fn an_animation_the_provider_never_finishes_fails_after_the_timeout() {
    let fake = Arc::new(FakeAnimator::heygen().await);
    let app = app_with(&fake, |_| {}).await;
    fake.set_outcome(Outcome::Never);
    let photo = photo(&app).await;
    let started = animate(
        &app,
        json!({"mediaId": photo, "script": "Forever", "provider": "HEYGEN"}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    let failed = finished(&app, id).await;
    assert_eq!(failed["status"], "FAILED");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("within 10 minutes"),
        "{failed}"
    );
    let polls = fake.polls(&remote_id(&app, id).await);
    assert!(
        (100..=125).contains(&polls),
        "polled every 5 s for 10 minutes: {polls}"
    );
}

#[tokio::test]
async fn a_rejected_animation_fails_with_the_providers_reason() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    fake.set_outcome(Outcome::Rejected("the face is not visible".into()));
    let photo = photo(&app).await;
    let started = animate(&app, json!({"mediaId": photo, "script": "Hidden"})).await;
    let failed = finished(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "FAILED");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("the face is not visible"),
        "{failed}"
    );
    assert_eq!(failed["videoUrl"], Value::Null);
}

#[tokio::test]
async fn every_step_is_streamed_on_animation_status_until_it_ends() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    let photo = photo(&app).await;
    let started = animate(&app, json!({"mediaId": photo, "script": "Watch me"})).await;
    let id = started["id"].as_str().unwrap().to_string();
    let mut ws = app.ws_as_admin().await;
    ws.send(json!({"id": "a", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { animationStatus(animationId: $id) { sequence status detail } }",
        "variables": {"id": id}}}))
        .await;
    let done = finished(&app, &id).await;
    let mut seen = Vec::new();
    loop {
        let frame = ws.next_json().await;
        if frame["type"] == "complete" {
            break;
        }
        let step = &frame["payload"]["data"]["animationStatus"];
        seen.push((
            step["sequence"].as_i64().unwrap(),
            step["status"].as_str().unwrap().to_string(),
        ));
    }
    let expected: Vec<(i64, String)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sequence"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen, expected,
        "each step once, in order, ending after DONE"
    );
}

#[tokio::test]
async fn the_seeds_rest_routes_start_an_animation_and_report_it() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    let photo = photo(&app).await;
    let client = reqwest::Client::new();
    let started: Value = client
        .post(app.url("/api/v1/ai/photo/animate"))
        .bearer_auth(app.admin("acme"))
        .json(&json!({"media_id": photo, "prompt": "Привет, я здесь, чтобы поделиться воспоминаниями."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(started["status"], "pending", "{started}");
    assert_eq!(started["provider"], "d-id");
    assert!(started["message"].as_str().unwrap().contains("d-id"));
    let task = started["task_id"].as_str().unwrap();
    finished(&app, task).await;
    let status: Value = client
        .post(app.url("/api/v1/ai/animation/status"))
        .bearer_auth(app.admin("acme"))
        .json(&json!({"task_id": task, "provider": "d-id"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["provider"], "d-id");
    assert_eq!(status["error"], Value::Null);
    assert!(status["video_url"].as_str().unwrap().contains("/media/"));

    let other = client
        .post(app.url("/api/v1/ai/animation/status"))
        .bearer_auth(app.admin("globex"))
        .json(&json!({"task_id": task}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "another organisation's animation does not exist"
    );
}

#[tokio::test]
async fn animating_is_refused_to_viewers_other_organisations_videos_and_unconfigured_providers() {
    let fake = Arc::new(FakeAnimator::did().await);
    let app = app_with(&fake, |_| {}).await;
    let photo = photo(&app).await;
    let input = json!({"input": {"mediaId": photo, "script": "No"}});
    let viewer = app.token("vic", "acme", Role::Viewer);
    assert_eq!(
        error_code(&app.gql(Some(&viewer), ANIMATE, input.clone()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &app.gql(Some(&app.admin("globex")), ANIMATE, input.clone())
                .await
        ),
        "NOT_FOUND"
    );
    let heygen = json!({"input": {"mediaId": photo, "script": "No", "provider": "HEYGEN"}});
    assert_eq!(
        error_code(&app.gql(Some(&app.admin("acme")), ANIMATE, heygen).await),
        "NOT_CONFIGURED"
    );
    let empty = json!({"input": {"mediaId": photo, "script": "  "}});
    assert_eq!(
        error_code(&app.gql(Some(&app.admin("acme")), ANIMATE, empty).await),
        "BAD_USER_INPUT"
    );

    let memorial = memorial(&app, "acme").await;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-anim-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let video = uploaded(&app, &memorial, &make_file(&dir, "clip.mp4", 1.0)).await;
    let of_video = json!({"input": {"mediaId": video["id"], "script": "No"}});
    assert_eq!(
        error_code(&app.gql(Some(&app.admin("acme")), ANIMATE, of_video).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        fake.creations().await.len(),
        0,
        "nothing reached the provider"
    );

    let started = animate(&app, json!({"mediaId": photo, "script": "Mine"})).await;
    let seen = app
        .gql(
            Some(&app.admin("globex")),
            ANIMATION,
            json!({"id": started["id"]}),
        )
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND");
}

#[tokio::test]
async fn in_the_sandbox_a_photo_animates_end_to_end_into_a_real_video() {
    let app = TestApp::builder()
        .config(|c| c.sandbox = true)
        .spawn()
        .await;
    let photo = photo(&app).await;
    let started = animate(
        &app,
        json!({"mediaId": photo, "script": "Hello from the sandbox"}),
    )
    .await;
    let done = finished(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "DONE", "{done}");
    let media = app
        .gql(
            Some(&app.admin("acme")),
            RESULT,
            json!({"id": done["resultMediaId"]}),
        )
        .await;
    let media = &media["data"]["media"];
    assert_eq!(media["kind"], "VIDEO", "{media}");
    assert!(media["durationSecs"].as_f64().unwrap() > 1.0, "{media}");
    assert_eq!(
        get(&app, done["videoUrl"].as_str().unwrap(), None)
            .await
            .status(),
        200
    );
}
