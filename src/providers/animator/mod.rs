//! Talking-photo animation: a photo and a script become a video of the photo saying it, made
//! by D-ID or HeyGen. One trait for both, so the media domain need not know which one works
//! for it; `USE_HEYGEN` picks the one asked when a caller names none.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde_json::Value;
use url::Url;

use super::http::ProviderError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AnimatorKind {
    DId,
    HeyGen,
}

impl AnimatorKind {
    /// The seed's names, kept in its REST answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DId => "d-id",
            Self::HeyGen => "heygen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "d-id" | "did" | "d_id" => Some(Self::DId),
            "heygen" => Some(Self::HeyGen),
            _ => None,
        }
    }

    /// The provider's name as people write it, for messages.
    pub fn service(self) -> &'static str {
        match self {
            Self::DId => "D-ID",
            Self::HeyGen => "HeyGen",
        }
    }
}

impl std::fmt::Display for AnimatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The photo to animate, read whole (photos are bounded by the upload limit).
#[derive(Clone)]
pub struct Photo {
    pub bytes: Bytes,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    pub file_name: String,
}

#[derive(Clone, Copy)]
pub struct AnimationOrder<'a> {
    pub photo: &'a Photo,
    /// The text the photo speaks.
    pub script: &'a str,
    /// `None`: the provider's default voice (DID_VOICE_ID, HEYGEN_VOICE_ID).
    pub voice_id: Option<&'a str>,
    /// Where the provider reports completion, when it can reach us.
    pub callback_url: Option<&'a Url>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RemoteState {
    Pending,
    Done { video_url: Url },
    Failed { message: String },
}

pub type ByteStream = BoxStream<'static, Result<Bytes, ProviderError>>;

#[async_trait]
pub trait Animator: Send + Sync + 'static {
    fn kind(&self) -> AnimatorKind;

    /// Uploads the photo where the provider needs it and starts the video: the provider's id.
    async fn start(&self, order: AnimationOrder<'_>) -> Result<String, ProviderError>;

    async fn state(&self, remote_id: &str) -> Result<RemoteState, ProviderError>;

    /// Streams the finished video. Provider links expire: read it right after `Done`; a
    /// 403/404 here means the link is gone, and [`Animator::state`] may give a fresh one.
    async fn download(&self, video_url: &Url) -> Result<ByteStream, ProviderError>;

    /// The provider's id named in a webhook/callback body (D-ID posts the talk, HeyGen posts
    /// `{event_type, event_data{video_id,…}}`), to check a callback is about the animation it
    /// claims.
    fn callback_remote_id(&self, body: &Value) -> Option<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_is_known_by_the_names_people_write() {
        for name in ["d-id", "D-ID", "did", "d_id", " DID "] {
            assert_eq!(AnimatorKind::parse(name), Some(AnimatorKind::DId), "{name}");
        }
        for name in ["heygen", "HeyGen", "HEYGEN"] {
            assert_eq!(
                AnimatorKind::parse(name),
                Some(AnimatorKind::HeyGen),
                "{name}"
            );
        }
        assert_eq!(AnimatorKind::parse("synthesia"), None);
        for kind in [AnimatorKind::DId, AnimatorKind::HeyGen] {
            assert_eq!(AnimatorKind::parse(kind.as_str()), Some(kind));
        }
    }
}
