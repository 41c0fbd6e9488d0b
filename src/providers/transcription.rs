//! Audio to text: the recording is downloaded (with a size bound) and sent to an
//! OpenAI-compatible `/audio/transcriptions` with `response_format=verbose_json`.

use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::Client;
use serde::Deserialize;
use url::Url;

use super::http::{self, ProviderError};

const SERVICE: &str = "transcription";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default)]
    pub speaker: Option<String>,
}

#[async_trait]
pub trait Transcriber: Send + Sync + 'static {
    async fn transcribe(&self, audio_url: &str) -> Result<Vec<Segment>, ProviderError>;
}

pub struct OpenAiTranscriber {
    pub client: Client,
    pub base: Url,
    pub api_key: Option<String>,
    pub model: String,
    pub max_audio_bytes: u64,
}

#[derive(Deserialize)]
struct Verbose {
    #[serde(default)]
    segments: Vec<Segment>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
}

impl OpenAiTranscriber {
    async fn download(&self, audio_url: &str) -> Result<(Vec<u8>, String), ProviderError> {
        let url = Url::parse(audio_url).map_err(|_| ProviderError {
            status: Some(400),
            ..ProviderError::new("audio download", "audio_url is not a URL")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError {
                status: Some(400),
                ..ProviderError::new("audio download", "audio_url must be http(s)")
            });
        }
        let response = http::send("audio download", self.client.get(url.clone())).await?;
        let too_big = || ProviderError {
            status: Some(413),
            ..ProviderError::new(
                "audio download",
                format!("recording is larger than {} bytes", self.max_audio_bytes),
            )
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_audio_bytes)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|_| {
                ProviderError::new("audio download", "connection dropped mid-download")
            })?;
            if body.len() as u64 + chunk.len() as u64 > self.max_audio_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|n| !n.is_empty())
            .unwrap_or("recording.wav")
            .to_string();
        Ok((body, name))
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(&self, audio_url: &str) -> Result<Vec<Segment>, ProviderError> {
        let (audio, file_name) = self.download(audio_url).await?;
        let form = Form::new()
            .part("file", Part::bytes(audio).file_name(file_name))
            .text("model", self.model.clone())
            .text("response_format", "verbose_json");
        let url = format!(
            "{}/audio/transcriptions",
            self.base.as_str().trim_end_matches('/')
        );
        let mut request = self.client.post(url).multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let verbose: Verbose = http::json(SERVICE, request).await?;
        if verbose.segments.is_empty() {
            // Some servers give only the text; keep it as one segment rather than lose it.
            if let Some(text) = verbose.text.filter(|t| !t.trim().is_empty()) {
                return Ok(vec![Segment {
                    start: 0.0,
                    end: verbose.duration.unwrap_or(0.0),
                    text,
                    speaker: None,
                }]);
            }
        }
        Ok(verbose.segments)
    }
}
