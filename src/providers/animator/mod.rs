//! Talking-photo animation: a photo and a script become a video of the photo saying it, made
//! by D-ID or HeyGen. One trait for both, so the media domain need not know which one works
//! for it; `USE_HEYGEN` picks the one asked when a caller names none.

pub mod did;
pub mod heygen;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::{Client, Response};
use serde_json::Value;
use url::Url;

use super::http::{self, Capped, ProviderError};
use crate::config::ProvidersConfig;

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

/// The animators this instance has, and the one asked when a caller names none.
#[derive(Clone)]
pub struct Animators {
    pub did: Option<Arc<dyn Animator>>,
    pub heygen: Option<Arc<dyn Animator>>,
    pub default: AnimatorKind,
}

impl Animators {
    /// The real clients, for the providers whose key is set. `client` carries the usual
    /// per-request timeout; videos are fetched by a client of their own.
    pub fn from_config(p: &ProvidersConfig, client: &Client) -> anyhow::Result<Self> {
        let videos = video_client(Duration::from_secs(p.timeout_secs))?;
        let did = p.did_api_key.clone().map(|api_key| {
            Arc::new(did::DId {
                client: client.clone(),
                videos: videos.clone(),
                base: p.did_api_base.clone(),
                api_key,
                voice_id: p.did_voice_id.clone(),
            }) as Arc<dyn Animator>
        });
        let heygen = p.heygen_api_key.clone().map(|api_key| {
            if p.heygen_voice_id.is_none() {
                tracing::warn!(
                    "HEYGEN_VOICE_ID is not set: HeyGen animations must each name a voice"
                );
            }
            Arc::new(heygen::HeyGen {
                client: client.clone(),
                videos: videos.clone(),
                base: p.heygen_api_base.clone(),
                upload_base: p.heygen_upload_base.clone(),
                api_key,
                voice_id: p.heygen_voice_id.clone(),
            }) as Arc<dyn Animator>
        });
        Ok(Self {
            did,
            heygen,
            default: default_kind(p.use_heygen),
        })
    }

    pub fn get(&self, kind: AnimatorKind) -> Option<&Arc<dyn Animator>> {
        match kind {
            AnimatorKind::DId => self.did.as_ref(),
            AnimatorKind::HeyGen => self.heygen.as_ref(),
        }
    }
}

/// `USE_HEYGEN`, as the seed had it.
pub fn default_kind(use_heygen: bool) -> AnimatorKind {
    if use_heygen {
        AnimatorKind::HeyGen
    } else {
        AnimatorKind::DId
    }
}

/// For videos: no overall timeout (a large one takes minutes), but a read that stalls for
/// as long as a whole request may take ends it.
fn video_client(stall: Duration) -> reqwest::Result<Client> {
    Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(stall)
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `base` with `segments` added to its path, each escaped (an id from a caller cannot
/// reach another endpoint).
fn endpoint(service: &'static str, base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| ProviderError::refused(service, "its base URL cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The most of an error answer read: its message is short.
const ERROR_BODY_BYTES: u64 = 8192;

/// A non-2xx answer said so a person can act on it: out of credits and a refused key say
/// what to do, a refused request gives the provider's own words, and only a rate limit,
/// a timeout or the provider's own trouble is worth asking again.
async fn refusal(
    kind: AnimatorKind,
    key_setting: &str,
    response: Response,
    message_of: fn(&Value) -> Option<String>,
) -> ProviderError {
    let status = response.status();
    let retry_after = http::retry_after(&response);
    let body = match http::read_capped(response, ERROR_BODY_BYTES).await {
        Ok(Capped::Whole(body) | Capped::TooLarge(body)) => body,
        Err(_) => Vec::new(),
    };
    let said = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|answer| message_of(&answer))
        .map(|message| clip(&message))
        .unwrap_or_else(|| http::excerpt(&String::from_utf8_lossy(&body), status));
    let code = status.as_u16();
    let (message, hopeless) = match code {
        402 => (format!("out of credits: top up the account ({said})"), true),
        401 | 403 => (
            format!("refused the API key: check {key_setting} ({said})"),
            true,
        ),
        408 | 429 => (said, false),
        400..=499 => (said, true),
        _ => (said, false),
    };
    ProviderError {
        service: kind.service(),
        status: Some(code),
        message,
        retry_after,
        hopeless,
    }
}

/// A provider's message, short enough for an error.
fn clip(message: &str) -> String {
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

/// The text of a JSON field that is a string, or an object with a message of its own.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Object(_) => ["message", "description", "detail", "msg"]
            .iter()
            .find_map(|field| text_of(&value[*field])),
        _ => None,
    }
}

/// Streams the video at `url` (a presigned link: no credentials go with it).
async fn stream_video(
    service: &'static str,
    client: &Client,
    url: &Url,
) -> Result<ByteStream, ProviderError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::refused(
            service,
            format!("the video link is not http(s) but {}:", url.scheme()),
        ));
    }
    let response = http::transport(service, client.get(url.clone())).await?;
    if !response.status().is_success() {
        let mut err = http::failure(service, response).await;
        if matches!(err.status, Some(403 | 404 | 410)) {
            err.message = format!(
                "the video link has expired or is gone (ask for the animation's state again for a fresh one): {}",
                err.message
            );
        }
        return Err(err);
    }
    Ok(response
        .bytes_stream()
        .map_err(move |err| {
            let what = if err.is_timeout() {
                "the video download stalled"
            } else {
                "connection dropped mid-download"
            };
            ProviderError::new(service, what)
        })
        .boxed())
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

    #[test]
    fn an_id_cannot_leave_its_endpoint() {
        let base = Url::parse("https://api.d-id.com").unwrap();
        let url = endpoint("D-ID", &base, &["talks", "../images?x=1"]).unwrap();
        assert_eq!(url.as_str(), "https://api.d-id.com/talks/..%2Fimages%3Fx=1");
    }
}
