//! HeyGen talking photos: the photo goes up to HeyGen's upload host as a talking photo, then
//! a v2 video is generated from it with a text script and one of HeyGen's voices.

use async_trait::async_trait;
use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{
    endpoint, refusal, stream_video, text_of, AnimationOrder, Animator, AnimatorKind, ByteStream,
    RemoteState,
};
use crate::providers::http::{self, ProviderError};

const SERVICE: &str = "HeyGen";
const KEY_SETTING: &str = "HEYGEN_API_KEY";
/// HeyGen's `code` for a request that went well (v1 answers).
const OK: i64 = 100;

pub struct HeyGen {
    pub client: Client,
    /// Fetches finished videos: no overall timeout.
    pub videos: Client,
    pub base: Url,
    /// Where photos go (`upload.heygen.com`, apart from the API).
    pub upload_base: Url,
    pub api_key: String,
    /// The voice used when an order names none; HeyGen has no default of its own.
    pub voice_id: Option<String>,
}

/// HeyGen's answers: v1 `{code, data, message}`, v2 `{error, data}`.
#[derive(Deserialize)]
struct Answer<T> {
    #[serde(default)]
    code: Option<i64>,
    data: Option<T>,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    message: Value,
}

#[derive(Deserialize)]
struct TalkingPhoto {
    talking_photo_id: String,
}

#[derive(Deserialize)]
struct Generated {
    video_id: String,
}

#[derive(Deserialize)]
struct VideoStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    video_url: Option<String>,
    #[serde(default)]
    error: Value,
}

/// HeyGen's errors: `{error: {code, message}}` (v2) or `{code, message}` (v1).
fn message_of(answer: &Value) -> Option<String> {
    text_of(&answer["error"])
        .or_else(|| text_of(&answer["message"]).or_else(|| text_of(&answer["msg"])))
}

impl HeyGen {
    /// One call: its `data`, or HeyGen's reason for giving none.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ProviderError> {
        let request = request
            .header("x-api-key", &self.api_key)
            .header(reqwest::header::ACCEPT, "application/json");
        let response = http::transport(SERVICE, request).await?;
        if !response.status().is_success() {
            return Err(refusal(AnimatorKind::HeyGen, KEY_SETTING, response, message_of).await);
        }
        let body = http::read_answer(SERVICE, response).await?;
        let answer: Answer<T> = crate::input::provider_json(&body).map_err(|err| {
            ProviderError::new(SERVICE, format!("answered with unexpected JSON: {err}"))
        })?;
        let refused = answer.code.is_some_and(|code| code != OK) || !answer.error.is_null();
        match answer.data {
            Some(data) if !refused => Ok(data),
            // An error in a 200 answer: HeyGen looked at the request and said no.
            _ => {
                let said = text_of(&answer.error)
                    .or_else(|| text_of(&answer.message))
                    .map(|said| super::clip(&said))
                    .unwrap_or_else(|| "answered without data".into());
                Err(ProviderError::refused(SERVICE, said))
            }
        }
    }
}

#[async_trait]
impl Animator for HeyGen {
    fn kind(&self) -> AnimatorKind {
        AnimatorKind::HeyGen
    }

    async fn start(&self, order: AnimationOrder<'_>) -> Result<String, ProviderError> {
        let photo = order.photo;
        // HeyGen's talking photos are JPEG or PNG only.
        if !matches!(photo.content_type.as_str(), "image/jpeg" | "image/png") {
            return Err(ProviderError::refused(
                SERVICE,
                format!(
                    "HeyGen animates JPEG or PNG photos only, not {}",
                    photo.content_type
                ),
            ));
        }
        let voice_id = order.voice_id.or(self.voice_id.as_deref()).ok_or_else(|| {
            ProviderError::refused(
                SERVICE,
                "no voice: name one, or set HEYGEN_VOICE_ID for animations that do not",
            )
        })?;
        let upload = self
            .client
            .post(endpoint(
                SERVICE,
                &self.upload_base,
                &["v1", "talking_photo"],
            )?)
            .header(reqwest::header::CONTENT_TYPE, &photo.content_type)
            .body(photo.bytes.clone());
        let uploaded: TalkingPhoto = self.call(upload).await?;
        let mut video = json!({
            "video_inputs": [{
                "character": {
                    "type": "talking_photo",
                    "talking_photo_id": uploaded.talking_photo_id,
                },
                "voice": {"type": "text", "input_text": order.script, "voice_id": voice_id},
            }],
        });
        if let Some(callback) = order.callback_url {
            video["callback_url"] = json!(callback.as_str());
        }
        let generate = self
            .client
            .post(endpoint(SERVICE, &self.base, &["v2", "video", "generate"])?)
            .json(&video);
        let generated: Generated = self.call(generate).await?;
        Ok(generated.video_id)
    }

    async fn state(&self, remote_id: &str) -> Result<RemoteState, ProviderError> {
        let mut url = endpoint(SERVICE, &self.base, &["v1", "video_status.get"])?;
        url.query_pairs_mut().append_pair("video_id", remote_id);
        let request = self.client.get(url);
        let video: VideoStatus = self.call(request).await?;
        Ok(match video.status.as_str() {
            "pending" | "waiting" | "processing" => RemoteState::Pending,
            "completed" => {
                let video_url = video
                    .video_url
                    .as_deref()
                    .and_then(|link| Url::parse(link).ok())
                    .ok_or_else(|| {
                        ProviderError::new(
                            SERVICE,
                            "said the video is completed but gave no video_url",
                        )
                    })?;
                RemoteState::Done { video_url }
            }
            "failed" => RemoteState::Failed {
                message: format!(
                    "HeyGen could not make the video: {}",
                    text_of(&video.error)
                        .map(|reason| super::clip(&reason))
                        .unwrap_or_else(|| "no reason given".into())
                ),
            },
            other => {
                // A status HeyGen added since: still working, as far as we can tell.
                tracing::warn!(status = %other, video = %remote_id, "HeyGen answered an unknown video status");
                RemoteState::Pending
            }
        })
    }

    async fn download(&self, video_url: &Url) -> Result<ByteStream, ProviderError> {
        stream_video(SERVICE, &self.videos, video_url).await
    }

    /// HeyGen posts `{event_type: "avatar_video.success"|…, event_data: {video_id, …}}`.
    fn callback_remote_id(&self, body: &Value) -> Option<String> {
        body["event_data"]["video_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }
}
