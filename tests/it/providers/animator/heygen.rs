//! HeyGen through the `Animator` trait, against its fake.

use std::time::Duration;

use serde_json::json;
use switchboard::providers::animator::{AnimationOrder, AnimatorKind, Photo, RemoteState};
use url::Url;

use super::{failed, header, scene, scene_with, told, SCRIPT};
use crate::common::animators::{Call, Outcome, HEYGEN_KEY};

#[tokio::test]
async fn uploads_the_raw_photo_then_generates_a_talking_photo_video() {
    let s = scene(AnimatorKind::HeyGen).await;
    let callback: Url = "https://switchboard.example/webhooks/heygen"
        .parse()
        .unwrap();
    let order = AnimationOrder {
        voice_id: Some("1bd001e7e50f421d891986aad5158bc8"),
        callback_url: Some(&callback),
        ..s.order()
    };
    let id = s.animator.start(order).await.unwrap();
    assert_eq!(id, format!("{:032x}", 1));

    let uploads = s.fake.uploads().await;
    assert_eq!(uploads.len(), 1, "one photo upload");
    assert_eq!(header(&uploads[0], "content-type"), "image/jpeg");
    assert_eq!(uploads[0].body, s.photo.bytes, "the photo's own bytes");
    for request in s.fake.requests().await {
        assert_eq!(header(&request, "x-api-key"), HEYGEN_KEY);
        assert_eq!(header(&request, "authorization"), "");
    }
    assert_eq!(
        s.fake.creations().await,
        vec![json!({
            "video_inputs": [{
                "character": {"type": "talking_photo", "talking_photo_id": format!("tp{:030x}", 1)},
                "voice": {"type": "text", "input_text": SCRIPT, "voice_id": "1bd001e7e50f421d891986aad5158bc8"},
            }],
            "callback_url": callback.as_str(),
        })],
        "the video animates the uploaded photo, reads the script in the voice asked for, and reports to the callback"
    );
}

#[tokio::test]
async fn refuses_what_it_cannot_animate_before_sending_anything() {
    let s = scene_with(AnimatorKind::HeyGen, |c| c.providers.heygen_voice_id = None).await;
    let voiceless = s.start().await.unwrap_err();
    assert!(voiceless.hopeless);
    assert!(
        told(&voiceless).contains("HEYGEN_VOICE_ID"),
        "{}",
        voiceless.describe()
    );

    let webp = Photo {
        content_type: "image/webp".into(),
        ..s.photo.clone()
    };
    let order = AnimationOrder {
        photo: &webp,
        voice_id: Some("voice"),
        ..s.order()
    };
    let err = s.animator.start(order).await.unwrap_err();
    assert!(err.hopeless);
    assert!(told(&err).contains("JPEG or PNG"), "{}", err.describe());
    assert!(s.fake.requests().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn uses_the_configured_voice_when_the_order_names_none() {
    let s = scene(AnimatorKind::HeyGen).await;
    s.start().await.unwrap();
    let video = &s.fake.creations().await[0];
    assert_eq!(
        video["video_inputs"][0]["voice"]["voice_id"],
        "heygen-default-voice"
    );
    assert!(video.get("callback_url").is_none(), "{video}");
}

#[tokio::test]
async fn video_statuses_map_to_pending_done_and_failed() {
    let s = scene(AnimatorKind::HeyGen).await;
    let id = s.start().await.unwrap();
    assert_eq!(s.state(&id).await, RemoteState::Pending, "pending");
    assert_eq!(s.state(&id).await, RemoteState::Pending, "processing");
    assert_eq!(
        s.state(&id).await,
        RemoteState::Done {
            video_url: s.fake.result_url(&id)
        },
        "completed, with its video_url"
    );

    s.fake
        .set_outcome(Outcome::Fails("No face detected in the photo".into()));
    let message = failed(s.state(&id).await);
    assert!(
        message.contains("HeyGen") && message.contains("No face detected in the photo"),
        "{message}"
    );

    s.fake.set_outcome(Outcome::Never);
    for _ in 0..3 {
        assert_eq!(
            s.state(&id).await,
            RemoteState::Pending,
            "processing, still"
        );
    }
    let asked: Vec<_> = s
        .fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/v1/video_status.get")
        .map(|r| r.url.query().unwrap_or_default().to_string())
        .collect();
    assert!(
        asked.iter().all(|q| q == &format!("video_id={id}")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn out_of_credits_is_hopeless_and_says_to_top_up_the_account() {
    let s = scene(AnimatorKind::HeyGen).await;
    s.fake.out_of_credits();
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(402));
    assert!(err.hopeless && !err.is_transient());
    let said = told(&err);
    assert!(
        said.starts_with("HeyGen answered 402: out of credits: top up the account"),
        "{said}"
    );
    assert!(
        said.contains("Insufficient credit."),
        "HeyGen's words kept: {said}"
    );
}

#[tokio::test]
async fn invalid_request_is_hopeless_in_heygens_own_words() {
    let s = scene(AnimatorKind::HeyGen).await;
    s.fake.invalid("input_text exceeds 1500 characters");
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert!(err.hopeless);
    assert_eq!(
        told(&err),
        "HeyGen answered 400: input_text exceeds 1500 characters"
    );

    // The upload host answers in v1's shape.
    s.fake.refuse(
        Call::Upload,
        1,
        400,
        json!({"code": 400, "message": "No face detected, please try another photo."}),
        None,
    );
    let err = s.start().await.unwrap_err();
    assert!(err.hopeless);
    assert_eq!(
        told(&err),
        "HeyGen answered 400: No face detected, please try another photo."
    );
}

#[tokio::test]
async fn refusal_inside_a_successful_answer_is_hopeless_with_its_message() {
    let s = scene(AnimatorKind::HeyGen).await;
    let id = s.start().await.unwrap();
    s.fake.refuse(
        Call::Status,
        1,
        200,
        json!({"code": 40001, "message": "video_id is invalid", "data": null}),
        None,
    );
    let err = s.animator.state(&id).await.unwrap_err();
    assert!(err.hopeless && !err.is_transient());
    assert!(
        told(&err).contains("video_id is invalid"),
        "{}",
        err.describe()
    );
}

#[tokio::test]
async fn server_error_is_transient_and_the_next_try_works() {
    let s = scene(AnimatorKind::HeyGen).await;
    let id = s.start().await.unwrap();
    s.fake.server_error(Call::Status, 1);
    let err = s.animator.state(&id).await.unwrap_err();
    assert_eq!(err.status, Some(500));
    assert!(err.is_transient());
    assert_eq!(s.state(&id).await, RemoteState::Pending);
}

#[tokio::test]
async fn rate_limit_keeps_retry_after() {
    let s = scene(AnimatorKind::HeyGen).await;
    s.fake.rate_limited(Call::Create, 1, 12);
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(429));
    assert_eq!(err.retry_after, Some(Duration::from_secs(12)));
    assert!(err.is_transient());
    s.start().await.unwrap();
}

#[tokio::test]
async fn video_streams_once_and_then_its_expired_link_is_an_error() {
    let s = scene(AnimatorKind::HeyGen).await;
    s.fake.set_outcome(Outcome::DoneAfter(0));
    let id = s.start().await.unwrap();
    let RemoteState::Done { video_url } = s.state(&id).await else {
        panic!("completed at the first read");
    };
    assert_eq!(s.download(&video_url).await.unwrap(), s.fake.video());
    let expired = s.download(&video_url).await.unwrap_err();
    assert_eq!(expired.status, Some(404));
    assert!(told(&expired).contains("expired"));
}
