//! Audio to text: the recording is downloaded (with a size bound) and sent to an
//! OpenAI-compatible `/audio/transcriptions` with `response_format=verbose_json`.

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use reqwest::Client;
use serde::Deserialize;
use url::Url;

use super::http::{self, ProviderError};
use super::public_net;

const SERVICE: &str = "transcription";
const DOWNLOAD: &str = "audio download";

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
    /// `public_only`: the URL came from a caller, so only a public address may serve it.
    async fn transcribe(
        &self,
        audio_url: &str,
        public_only: bool,
    ) -> Result<Vec<Segment>, ProviderError>;
}

pub struct OpenAiTranscriber {
    pub client: Client,
    /// For recordings at a URL a caller chose: reaches public addresses only.
    pub public_client: Client,
    pub base: Url,
    pub api_key: Option<String>,
    pub model: String,
    pub max_audio_bytes: u64,
    /// For the download and for the transcription, each: longer than other providers' calls.
    pub timeout: std::time::Duration,
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
    async fn download(
        &self,
        audio_url: &str,
        public_only: bool,
    ) -> Result<(Vec<u8>, String), ProviderError> {
        let refused = |why: String| ProviderError {
            status: Some(400),
            ..ProviderError::new(DOWNLOAD, why)
        };
        let url = Url::parse(audio_url).map_err(|_| refused("audio_url is not a URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused("audio_url must be http(s)".into()));
        }
        let client = if public_only {
            if let Some(why) = public_net::refusal(&url) {
                return Err(refused(why));
            }
            &self.public_client
        } else {
            &self.client
        };
        let response = match client.get(url.clone()).timeout(self.timeout).send().await {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => return Err(http::failure(DOWNLOAD, response).await),
            Err(err) => {
                return Err(match public_net::kept_out(&err) {
                    Some(why) => refused(why),
                    None => http::no_answer(DOWNLOAD, &err),
                })
            }
        };
        let too_big = || ProviderError {
            status: Some(413),
            ..ProviderError::new(
                DOWNLOAD,
                format!("recording is larger than {} bytes", self.max_audio_bytes),
            )
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_audio_bytes)
        {
            return Err(too_big());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let body = match http::read_capped(response, self.max_audio_bytes).await {
            Ok(http::Capped::Whole(body)) => body,
            Ok(http::Capped::TooLarge(_)) => return Err(too_big()),
            Err(_) => {
                return Err(ProviderError::new(
                    DOWNLOAD,
                    "connection dropped mid-download",
                ))
            }
        };
        Ok((body, file_name(&url, content_type.as_deref())))
    }
}

/// The name the recording is uploaded under: the transcription API knows a format by its
/// file's extension, which a link like `…/media/3/raw` does not have, so its Content-Type
/// gives one.
fn file_name(url: &Url, content_type: Option<&str>) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|n| !n.is_empty())
        .unwrap_or("recording");
    if last
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
    {
        return last.to_string();
    }
    let mime = content_type
        .and_then(|t| t.split(';').next())
        .map(str::trim);
    let extension = match mime {
        Some("audio/mpeg" | "audio/mp3") => "mp3",
        Some("audio/mp4" | "audio/x-m4a" | "audio/m4a") => "m4a",
        Some("video/mp4") => "mp4",
        Some("audio/webm" | "video/webm") => "webm",
        Some("audio/ogg" | "audio/opus") => "ogg",
        Some("audio/flac" | "audio/x-flac") => "flac",
        _ => "wav",
    };
    format!("{last}.{extension}")
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio_url: &str,
        public_only: bool,
    ) -> Result<Vec<Segment>, ProviderError> {
        let (audio, file_name) = self.download(audio_url, public_only).await?;
        let form = Form::new()
            .part("file", Part::bytes(audio).file_name(file_name))
            .text("model", self.model.clone())
            .text("response_format", "verbose_json");
        let url = format!(
            "{}/audio/transcriptions",
            self.base.as_str().trim_end_matches('/')
        );
        let mut request = self.client.post(url).multipart(form).timeout(self.timeout);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_uploaded_under_a_name_whose_extension_says_its_format() {
        let named = |url: &str, content_type| file_name(&Url::parse(url).unwrap(), content_type);
        assert_eq!(
            named("https://s.example/rec/standup.mp3", Some("audio/wav")),
            "standup.mp3"
        );
        assert_eq!(
            named("https://s.example/media/3/raw", Some("audio/mpeg")),
            "raw.mp3"
        );
        assert_eq!(
            named(
                "https://s.example/media/3/raw",
                Some("audio/webm; codecs=opus")
            ),
            "raw.webm"
        );
        assert_eq!(named("https://s.example/", None), "recording.wav");
        assert_eq!(
            named("https://s.example/.hidden", Some("audio/ogg")),
            ".hidden.ogg"
        );
    }
}
