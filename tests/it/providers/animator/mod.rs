//! The talking-photo animators (D-ID, HeyGen) through the `Animator` trait, against local
//! fakes of the providers: the scene their tests share, and what holds for both.

mod did;
mod heygen;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::TryStreamExt;
use serde_json::{json, Value};
use switchboard::config::Config;
use switchboard::providers::animator::{
    AnimationOrder, Animator, AnimatorKind, ByteStream, Photo, RemoteState,
};
use switchboard::providers::{ProviderError, Providers};
use switchboard::AppError;
use url::Url;

use crate::common::animators::{make_jpeg, FakeAnimator, DID_KEY, HEYGEN_KEY};
use crate::common::TestApp;

pub(super) const SCRIPT: &str = "Hello, I am here to share our memories.";

/// A directory removed with the test's scene.
pub(super) struct Dir(pub(super) PathBuf);

impl Dir {
    pub(super) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("switchboard-anim-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The providers a configuration makes, as the server makes them.
pub(super) fn providers(dir: &Dir, tweak: impl FnOnce(&mut Config)) -> Providers {
    // reqwest is built without a default TLS provider; the server installs ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::for_tests("sqlite::memory:", &dir.0);
    tweak(&mut config);
    Providers::from_config(&config).unwrap()
}

struct Scene {
    fake: FakeAnimator,
    animator: Arc<dyn Animator>,
    photo: Photo,
    _dir: Dir,
}

async fn scene(kind: AnimatorKind) -> Scene {
    scene_with(kind, |_| {}).await
}

/// A fake provider of `kind`, and its animator as the server builds it from its settings.
async fn scene_with(kind: AnimatorKind, tweak: impl FnOnce(&mut Config)) -> Scene {
    let dir = Dir::new();
    let fake = match kind {
        AnimatorKind::DId => FakeAnimator::did().await,
        AnimatorKind::HeyGen => FakeAnimator::heygen().await,
    };
    let animator = providers(&dir, |c| {
        fake.configure(c);
        tweak(c);
    })
    .animator(Some(kind))
    .unwrap();
    let photo = Photo {
        bytes: std::fs::read(make_jpeg(&dir.0)).unwrap().into(),
        content_type: "image/jpeg".into(),
        file_name: "grandma.jpg".into(),
    };
    Scene {
        fake,
        animator,
        photo,
        _dir: dir,
    }
}

impl Scene {
    fn order(&self) -> AnimationOrder<'_> {
        AnimationOrder {
            photo: &self.photo,
            script: SCRIPT,
            voice_id: None,
            callback_url: None,
        }
    }

    async fn start(&self) -> Result<String, ProviderError> {
        self.animator.start(self.order()).await
    }

    async fn state(&self, id: &str) -> RemoteState {
        self.animator.state(id).await.unwrap()
    }

    async fn download(&self, video_url: &Url) -> Result<Vec<u8>, ProviderError> {
        read_all(self.animator.download(video_url).await?).await
    }
}

pub(super) async fn read_all(stream: ByteStream) -> Result<Vec<u8>, ProviderError> {
    stream
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
}

fn header(request: &wiremock::Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Says what a person is told, and that it carries no key.
fn told(err: &ProviderError) -> String {
    let said = err.describe();
    for secret in [DID_KEY, HEYGEN_KEY, "did-secret-key"] {
        assert!(!said.contains(secret), "a key leaked: {said}");
    }
    said
}

fn failed(state: RemoteState) -> String {
    match state {
        RemoteState::Failed { message } => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_callback_names_the_animation_it_is_about() {
    for kind in [AnimatorKind::DId, AnimatorKind::HeyGen] {
        let s = scene(kind).await;
        let id = s.start().await.unwrap();
        let body = s.fake.callback_body(&id);
        assert_eq!(
            s.animator.callback_remote_id(&body),
            Some(id),
            "{kind}: {body}"
        );
        for stranger in [
            json!({}),
            json!({"id": 7}),
            json!({"event_data": {"video_id": ""}}),
            json!("tlk_1"),
        ] {
            assert_eq!(
                s.animator.callback_remote_id(&stranger),
                None,
                "{kind}: {stranger}"
            );
        }
    }
}

#[tokio::test]
async fn the_default_animator_follows_use_heygen_and_a_missing_key_is_not_configured() {
    let dir = Dir::new();
    let none = providers(&dir, |_| {});
    assert_eq!(none.default_animator(), AnimatorKind::DId);
    match none.animator(None) {
        Err(AppError::NotConfigured(message)) => {
            assert!(message.contains("DID_API_KEY"), "{message}")
        }
        _ => panic!("D-ID without a key is not configured"),
    }

    let heygen = FakeAnimator::heygen().await;
    let chosen = providers(&dir, |c| {
        heygen.configure(c);
        c.providers.use_heygen = true;
    });
    assert_eq!(chosen.default_animator(), AnimatorKind::HeyGen);
    assert_eq!(chosen.animator(None).unwrap().kind(), AnimatorKind::HeyGen);
    assert!(matches!(
        chosen.animator(Some(AnimatorKind::DId)),
        Err(AppError::NotConfigured(_))
    ));
}

#[tokio::test]
async fn health_reports_d_id_and_heygen_each_as_configured_or_not() {
    let fake = FakeAnimator::did().await;
    let base: Url = fake.server.uri().parse().unwrap();
    let app = TestApp::builder()
        .config(move |c| {
            c.providers.did_api_base = base;
            c.providers.did_api_key = Some(DID_KEY.into());
        })
        .spawn()
        .await;
    let answer = app
        .gql(None, "{ health { providers { name status } } }", json!({}))
        .await;
    let providers = answer["data"]["health"]["providers"].as_array().unwrap();
    let status = |name: &str| {
        providers
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["status"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(status("d-id"), "CONFIGURED", "{answer}");
    assert_eq!(status("heygen"), "NOT_CONFIGURED", "{answer}");
    app.stop().await;
}
