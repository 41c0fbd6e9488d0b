//! D-ID through the `Animator` trait, against its fake.

use std::time::Duration;

use serde_json::json;
use switchboard::providers::animator::{AnimationOrder, AnimatorKind, RemoteState};
use switchboard::AppError;
use url::Url;

use super::{contains, failed, header, scene, scene_with, told, SCRIPT};
use crate::common::animators::{Call, Outcome, DID_KEY};

#[tokio::test]
async fn uploads_the_photo_to_d_id_then_asks_for_a_talk_that_reads_the_script() {
    let s = scene(AnimatorKind::DId).await;
    let callback: Url = "https://switchboard.example/webhooks/d-id?token=t"
        .parse()
        .unwrap();
    let order = AnimationOrder {
        voice_id: Some("de-DE-KatjaNeural"),
        callback_url: Some(&callback),
        ..s.order()
    };
    let id = s.animator.start(order).await.unwrap();
    assert_eq!(id, "tlk_1");

    let uploads = s.fake.uploads().await;
    assert_eq!(uploads.len(), 1, "one photo upload");
    let upload = &uploads[0];
    assert!(header(upload, "content-type").starts_with("multipart/form-data"));
    assert!(
        contains(&upload.body, b"name=\"image\""),
        "sent as D-ID's `image` field"
    );
    assert!(contains(&upload.body, b"filename=\"grandma.jpg\""));
    assert!(contains(&upload.body, b"image/jpeg"));
    assert!(
        contains(&upload.body, &s.photo.bytes),
        "the photo itself went up"
    );
    for request in s.fake.requests().await {
        assert_eq!(
            header(&request, "authorization"),
            format!("Basic {DID_KEY}")
        );
    }
    assert_eq!(
        s.fake.creations().await,
        vec![json!({
            "source_url": "s3://d-id-images-prod/google-oauth2|100000000000000000001/img_1/photo.jpg",
            "script": {
                "type": "text",
                "input": SCRIPT,
                "provider": {"type": "microsoft", "voice_id": "de-DE-KatjaNeural"},
            },
            "webhook": callback.as_str(),
        })],
        "the talk animates the uploaded photo, reads the script in the voice asked for, and reports to the webhook"
    );
}

#[tokio::test]
async fn reads_in_the_configured_voice_and_is_polled_when_the_order_names_neither() {
    let s = scene_with(AnimatorKind::DId, |c| {
        c.providers.did_voice_id = "en-GB-SoniaNeural".into();
    })
    .await;
    s.start().await.unwrap();
    let talk = &s.fake.creations().await[0];
    assert_eq!(talk["script"]["provider"]["voice_id"], "en-GB-SoniaNeural");
    assert!(talk.get("webhook").is_none(), "{talk}");
}

#[tokio::test]
async fn talk_statuses_map_to_pending_done_and_failed() {
    let s = scene(AnimatorKind::DId).await;
    let id = s.start().await.unwrap();
    assert_eq!(s.state(&id).await, RemoteState::Pending, "created");
    assert_eq!(s.state(&id).await, RemoteState::Pending, "started");
    assert_eq!(
        s.state(&id).await,
        RemoteState::Done {
            video_url: s.fake.result_url(&id)
        },
        "done, with its result_url"
    );
    assert_eq!(s.fake.polls(&id), 3);

    s.fake
        .set_outcome(Outcome::Fails("Face not detected".into()));
    let message = failed(s.state(&id).await);
    assert!(
        message.contains("FaceError: Face not detected"),
        "{message}"
    );

    s.fake
        .set_outcome(Outcome::Rejected("The image was flagged".into()));
    let message = failed(s.state(&id).await);
    assert!(
        message.contains("rejected") && message.contains("The image was flagged"),
        "{message}"
    );

    s.fake.set_outcome(Outcome::Never);
    for _ in 0..3 {
        assert_eq!(s.state(&id).await, RemoteState::Pending, "started, still");
    }

    let gone = s.animator.state("tlk_nobody").await.unwrap_err();
    assert_eq!(gone.status, Some(404));
    assert!(!gone.is_transient());
    assert!(told(&gone).contains("talk not found"));
}

#[tokio::test]
async fn out_of_credits_is_hopeless_and_says_to_top_up_the_account() {
    let s = scene(AnimatorKind::DId).await;
    s.fake.out_of_credits();
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(402));
    assert!(err.hopeless && !err.is_transient());
    let said = told(&err);
    assert!(
        said.starts_with("D-ID answered 402: out of credits: top up the account"),
        "{said}"
    );
    assert!(
        said.contains("not enough credits"),
        "D-ID's words kept: {said}"
    );
    assert!(matches!(AppError::from(err), AppError::Provider(_)));
}

#[tokio::test]
async fn invalid_request_is_hopeless_in_d_ids_own_words() {
    let s = scene(AnimatorKind::DId).await;
    s.fake.invalid("Failed to validate script");
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(400));
    assert!(err.hopeless && !err.is_transient());
    assert_eq!(
        told(&err),
        "D-ID answered 400: ValidationError: Failed to validate script"
    );
}

#[tokio::test]
async fn refusing_the_key_is_hopeless_and_names_the_setting_to_check() {
    let s = scene(AnimatorKind::DId).await;
    s.fake.refuse(
        Call::Upload,
        1,
        401,
        json!({"message": "Unauthorized"}),
        None,
    );
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(401));
    assert!(err.hopeless);
    let said = told(&err);
    assert!(
        said.contains("DID_API_KEY") && said.contains("Unauthorized"),
        "{said}"
    );
    assert!(
        s.fake.creations().await.is_empty(),
        "no talk without the photo"
    );
}

#[tokio::test]
async fn server_error_is_transient_and_the_next_try_works() {
    let s = scene(AnimatorKind::DId).await;
    s.fake.server_error(Call::Create, 1);
    let err = s.start().await.unwrap_err();
    assert_eq!(err.status, Some(500));
    assert!(err.is_transient() && !err.hopeless);
    assert_eq!(s.start().await.unwrap(), "tlk_1");
}

#[tokio::test]
async fn rate_limit_keeps_retry_after() {
    let s = scene(AnimatorKind::DId).await;
    let id = s.start().await.unwrap();
    s.fake.rate_limited(Call::Status, 1, 7);
    let err = s.animator.state(&id).await.unwrap_err();
    assert_eq!(err.status, Some(429));
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(err.is_transient());
    match AppError::from(err) {
        AppError::RateLimited {
            retry_after_secs, ..
        } => assert_eq!(retry_after_secs, Some(7)),
        other => panic!("expected RATE_LIMITED, got {other:?}"),
    }
    assert_eq!(
        s.state(&id).await,
        RemoteState::Pending,
        "asked again, it answers"
    );
}

#[tokio::test]
async fn video_streams_without_the_key_once_and_then_its_expired_link_is_an_error() {
    let s = scene(AnimatorKind::DId).await;
    s.fake.set_outcome(Outcome::DoneAfter(0));
    let id = s.start().await.unwrap();
    let RemoteState::Done { video_url } = s.state(&id).await else {
        panic!("done at the first read");
    };
    assert_eq!(s.download(&video_url).await.unwrap(), s.fake.video());
    let fetches: Vec<_> = s
        .fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r.url.path().ends_with(".mp4"))
        .collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(
        header(&fetches[0], "authorization"),
        "",
        "the key stays with D-ID"
    );

    let expired = s.download(&video_url).await.unwrap_err();
    assert_eq!(expired.status, Some(404));
    assert!(!expired.is_transient());
    assert!(told(&expired).contains("expired"), "{}", expired.describe());
}
