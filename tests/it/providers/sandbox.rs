//! The simulated providers of `--sandbox`.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::providers::animator::{AnimationOrder, AnimatorKind, Photo, RemoteState};
use switchboard::providers::ProviderStatus;

use super::animator::{providers, read_all, Dir, SCRIPT};
use crate::common::animators::{make_jpeg, make_video};

#[tokio::test]
async fn the_sandbox_animates_in_simulation_into_a_video_ffprobe_accepts() {
    let dir = Dir::new();
    let sandbox = providers(&dir, |c| {
        c.sandbox = true;
        c.providers.use_heygen = true;
    });
    assert_eq!(sandbox.default_animator(), AnimatorKind::HeyGen);
    for kind in ["d-id", "heygen"] {
        let entry = sandbox
            .health()
            .into_iter()
            .find(|h| h.name == kind)
            .unwrap();
        assert_eq!(entry.status, ProviderStatus::Sandbox, "{kind}");
    }
    let animator = sandbox.animator(None).unwrap();
    assert_eq!(animator.kind(), AnimatorKind::HeyGen);
    let photo = Photo {
        bytes: std::fs::read(make_jpeg(&dir.0)).unwrap().into(),
        content_type: "image/jpeg".into(),
        file_name: "grandma.jpg".into(),
    };
    let order = AnimationOrder {
        photo: &photo,
        script: SCRIPT,
        voice_id: None,
        callback_url: None,
    };
    let id = animator.start(order).await.unwrap();
    assert!(id.starts_with("sandbox-"), "{id}");
    assert_eq!(animator.state(&id).await.unwrap(), RemoteState::Pending);
    // The simulation takes about three seconds.
    let video_url = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match animator.state(&id).await.unwrap() {
            RemoteState::Pending => continue,
            RemoteState::Done { video_url } => break video_url,
            failed @ RemoteState::Failed { .. } => panic!("{failed:?}"),
        }
    };
    assert_eq!(video_url.as_str(), format!("sandbox://animations/{id}.mp4"));

    let video = dir.0.join("animation.mp4");
    std::fs::write(
        &video,
        read_all(animator.download(&video_url).await.unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    let probed = ffprobe(&video);
    let codecs: Vec<_> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codecs, ["h264", "aac"], "{probed}");
    let seconds: f64 = probed["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2.5..3.5).contains(&seconds), "{seconds}");
    // The same as a video the tests make.
    let made = ffprobe(&make_video(&dir.0, 3));
    assert_eq!(
        made["format"]["format_name"],
        probed["format"]["format_name"]
    );

    let body = json!({"event_type": "avatar_video.success", "event_data": {"video_id": id}});
    assert_eq!(
        animator.callback_remote_id(&body).as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        animator.state("not-a-sandbox-id").await.unwrap_err().status,
        Some(404)
    );
}

/// What ffprobe reads in `path` (it fails on anything that is not media).
fn ffprobe(path: &std::path::Path) -> Value {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
