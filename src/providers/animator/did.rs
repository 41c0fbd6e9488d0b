//! D-ID talks: the photo goes up to D-ID's own image store (so our server need not be
//! reachable from the internet), then a talk is made from it and a text script read by a
//! Microsoft voice.

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, RequestBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{
    endpoint, refusal, stream_video, text_of, AnimationOrder, Animator, AnimatorKind, ByteStream,
    RemoteState,
};
use crate::providers::http::{self, ProviderError};

const SERVICE: &str = "D-ID";
const KEY_SETTING: &str = "DID_API_KEY";

pub struct DId {
    pub client: Client,
    /// Fetches finished videos: no overall timeout.
    pub videos: Client,
    pub base: Url,
    /// Sent as D-ID gives it, after `Basic ` (it is already `user:password` encoded).
    pub api_key: String,
    /// The Microsoft voice used when an order names none.
    pub voice_id: String,
}

#[derive(Deserialize)]
struct Uploaded {
    /// `s3://d-id-images-prod/…`, which only D-ID reads.
    url: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Talk {
    #[serde(default)]
    status: String,
    #[serde(default)]
    result_url: Option<String>,
    #[serde(default)]
    error: Value,
}

/// D-ID's errors: `{kind, description}`, or `{message}` from its gateway.
fn message_of(answer: &Value) -> Option<String> {
    let description = text_of(&answer["description"]).or_else(|| text_of(&answer["message"]))?;
    Some(match answer["kind"].as_str() {
        Some(kind) if !kind.is_empty() => format!("{kind}: {description}"),
        _ => description,
    })
}

/// Why a talk failed, from its `error` (an object like an error answer, or text).
fn reason(error: &Value) -> String {
    message_of(error)
        .or_else(|| text_of(error))
        .map(|reason| super::clip(&reason))
        .unwrap_or_else(|| "no reason given".into())
}

impl DId {
    fn authorised(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", self.api_key),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ProviderError> {
        let response = http::transport(SERVICE, self.authorised(request)).await?;
        if !response.status().is_success() {
            return Err(refusal(AnimatorKind::DId, KEY_SETTING, response, message_of).await);
        }
        let body = http::read_answer(SERVICE, response).await?;
        crate::input::provider_json(&body).map_err(|err| {
            ProviderError::new(SERVICE, format!("answered with unexpected JSON: {err}"))
        })
    }
}

#[async_trait]
impl Animator for DId {
    fn kind(&self) -> AnimatorKind {
        AnimatorKind::DId
    }

    async fn start(&self, order: AnimationOrder<'_>) -> Result<String, ProviderError> {
        let photo = order.photo;
        let part = Part::stream_with_length(photo.bytes.clone(), photo.bytes.len() as u64)
            .file_name(photo.file_name.clone())
            .mime_str(&photo.content_type)
            .map_err(|_| {
                ProviderError::refused(
                    SERVICE,
                    format!("the photo's type {:?} is no media type", photo.content_type),
                )
            })?;
        let upload = self
            .client
            .post(endpoint(SERVICE, &self.base, &["images"])?)
            .multipart(Form::new().part("image", part));
        let image: Uploaded = self.call(upload).await?;
        let mut talk = json!({
            "source_url": image.url,
            "script": {
                "type": "text",
                "input": order.script,
                "provider": {
                    "type": "microsoft",
                    "voice_id": order.voice_id.unwrap_or(&self.voice_id),
                },
            },
        });
        if let Some(callback) = order.callback_url {
            talk["webhook"] = json!(callback.as_str());
        }
        let create = self
            .client
            .post(endpoint(SERVICE, &self.base, &["talks"])?)
            .json(&talk);
        let created: Created = self.call(create).await?;
        Ok(created.id)
    }

    async fn state(&self, remote_id: &str) -> Result<RemoteState, ProviderError> {
        let url = endpoint(SERVICE, &self.base, &["talks", remote_id])?;
        let talk: Talk = self.call(self.client.get(url)).await?;
        Ok(match talk.status.as_str() {
            "created" | "started" => RemoteState::Pending,
            "done" => {
                let video_url = talk
                    .result_url
                    .as_deref()
                    .and_then(|link| Url::parse(link).ok())
                    .ok_or_else(|| {
                        ProviderError::new(SERVICE, "said the talk is done but gave no result_url")
                    })?;
                RemoteState::Done { video_url }
            }
            "error" => RemoteState::Failed {
                message: format!("D-ID could not make the video: {}", reason(&talk.error)),
            },
            "rejected" => RemoteState::Failed {
                message: format!("D-ID rejected the photo or script: {}", reason(&talk.error)),
            },
            other => {
                // A status D-ID added since: still working, as far as we can tell.
                tracing::warn!(status = %other, talk = %remote_id, "D-ID answered an unknown talk status");
                RemoteState::Pending
            }
        })
    }

    async fn download(&self, video_url: &Url) -> Result<ByteStream, ProviderError> {
        stream_video(SERVICE, &self.videos, video_url).await
    }

    /// D-ID posts the talk itself to the webhook.
    fn callback_remote_id(&self, body: &Value) -> Option<String> {
        body["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }
}
