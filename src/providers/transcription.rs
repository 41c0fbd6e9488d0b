//! Audio to text: the recording is downloaded (with a size bound) and sent to an
//! OpenAI-compatible `/audio/transcriptions`, asked for segments with times (`verbose_json`,
//! or `diarized_json` with speakers from a diarizing model).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use reqwest::Client;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::http::{self, ProviderError};
use super::public_net;

const SERVICE: &str = "transcription";
const DOWNLOAD: &str = "audio download";
/// ffmpeg making a recording small enough to send.
const CONVERSION: &str = "recording conversion";

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
    /// The largest file the API takes; a larger recording goes through `ffmpeg`.
    pub max_upload_bytes: u64,
    pub ffmpeg: PathBuf,
    /// This instance's folder for recordings while they are transcribed.
    pub work_root: PathBuf,
    /// For the download, for making it smaller, and for each transcription: longer than
    /// other providers' calls.
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
        into: &Path,
    ) -> Result<(u64, String), ProviderError> {
        let refused = |why: String| ProviderError::refused(DOWNLOAD, why);
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
        let too_big = || {
            ProviderError::refused(
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
        // Only the extension comes from the link: the file's name is ours.
        let name = format!("recording.{}", extension(&url, content_type.as_deref()));
        let mut file = tokio::fs::File::create(into.join(&name))
            .await
            .map_err(could_not_keep)?;
        let mut response = response;
        let mut size = 0u64;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|_| ProviderError::new(DOWNLOAD, "connection dropped mid-download"))?;
            let Some(chunk) = chunk else { break };
            size += chunk.len() as u64;
            if size > self.max_audio_bytes {
                return Err(too_big());
            }
            file.write_all(&chunk).await.map_err(could_not_keep)?;
        }
        file.flush().await.map_err(could_not_keep)?;
        Ok((size, name))
    }
}

/// The extension the recording is uploaded under: the transcription API knows a format by
/// its file's extension, which a link like `…/media/3/raw` does not have, so its
/// Content-Type gives one then.
fn extension(url: &Url, content_type: Option<&str>) -> String {
    let from_link = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(|last| last.rsplit_once('.'))
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .filter(|e| (1..=8).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()));
    if let Some(extension) = from_link.as_deref().filter(|e| UPLOADABLE.contains(e)) {
        return extension.to_string();
    }
    let mime = content_type
        .and_then(|t| t.split(';').next())
        .map(str::trim);
    let from_type = match mime {
        Some("audio/mpeg" | "audio/mp3") => Some("mp3"),
        Some("audio/mp4" | "audio/x-m4a" | "audio/m4a") => Some("m4a"),
        Some("video/mp4") => Some("mp4"),
        Some("audio/webm" | "video/webm") => Some("webm"),
        Some("audio/ogg" | "audio/opus") => Some("ogg"),
        Some("audio/flac" | "audio/x-flac") => Some("flac"),
        Some("audio/wav" | "audio/x-wav" | "audio/wave") => Some("wav"),
        _ => None,
    };
    // A format the API does not take (`.mkv`, say) keeps its extension, and goes to ffmpeg.
    from_type
        .map(str::to_string)
        .or(from_link)
        .unwrap_or_else(|| "wav".to_string())
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio_url: &str,
        public_only: bool,
    ) -> Result<Vec<Segment>, ProviderError> {
        let work = WorkDir::new(&self.work_root).map_err(could_not_keep)?;
        let (size, name) = self.download(audio_url, public_only, work.path()).await?;
        let recording = work.path().join(&name);
        let uploadable = name
            .rsplit_once('.')
            .is_some_and(|(_, extension)| UPLOADABLE.contains(&extension));
        let sendable_whole = uploadable && size <= self.max_upload_bytes;
        // OpenAI's gpt- models also refuse audio over about 25 minutes, however small.
        let (parts, part_secs) = if sendable_whole && self.longest_secs().is_none() {
            (vec![recording], None)
        } else {
            match self.shrink(&recording, work.path()).await? {
                Some((parts, part_secs)) => (parts, Some(part_secs)),
                None if sendable_whole => (vec![recording], None),
                None => {
                    return Err(ProviderError::refused(
                        CONVERSION,
                        format!(
                            "the recording ({size} bytes, .{}) must be converted before the transcription API takes it, and ffmpeg, which would, could not be run",
                            name.rsplit_once('.').map_or("?", |(_, e)| e)
                        ),
                    ))
                }
            }
        };
        // Each part's times start at zero: they are moved by the parts before it.
        let mut segments = Vec::new();
        let mut offset = 0.0;
        let several = parts.len() > 1;
        for (number, part) in parts.into_iter().enumerate() {
            let (said, duration) = self.send(&part).await?;
            // An answer that does not say how long its part lasts: ffmpeg cut every part but
            // the last at `part_secs` (the last one's length does not matter).
            let duration = duration.or(part_secs).unwrap_or(0.0);
            segments.extend(said.into_iter().map(|segment| Segment {
                start: segment.start + offset,
                end: segment.end + offset,
                // Each part names its speakers afresh: "A" of one part need not be "A" of
                // the next.
                speaker: segment.speaker.map(|speaker| {
                    if several {
                        format!("{speaker} (part {})", number + 1)
                    } else {
                        speaker
                    }
                }),
                ..segment
            }));
            offset += duration;
        }
        Ok(segments)
    }
}

impl OpenAiTranscriber {
    /// The longest audio the model takes in one request, for OpenAI's gpt- models (1,400 s
    /// for the diarizing one, 1,500 s for the others; a little less, to be safe).
    fn longest_secs(&self) -> Option<f64> {
        let model = self.model.to_ascii_lowercase();
        if model.contains("diarize") {
            Some(1380.0)
        } else if model.starts_with("gpt-") {
            Some(1480.0)
        } else {
            None
        }
    }

    /// The recording as mono 16 kHz MP3 at 32 kbit/s (4 kB a second, an hour in 14 MB), cut
    /// into parts of at most half an hour (or the model's longest), each under the upload
    /// limit: the parts, and the length ffmpeg cut them at. `None` if ffmpeg cannot be run.
    async fn shrink(
        &self,
        recording: &Path,
        into: &Path,
    ) -> Result<Option<(Vec<PathBuf>, f64)>, ProviderError> {
        let part_secs = (self.max_upload_bytes as f64 * 0.9 / MP3_BYTES_A_SECOND)
            .min(self.longest_secs().unwrap_or(1800.0));
        let pattern = into.join("part-%04d.mp3");
        let mut command = tokio::process::Command::new(&self.ffmpeg);
        command
            .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
            // The file came from whoever gave the link: read it as the audio container it
            // should be, never as a playlist that has ffmpeg fetch other addresses itself.
            .args([
                "-protocol_whitelist",
                "file",
                "-format_whitelist",
                AUDIO_CONTAINERS,
                "-i",
            ])
            .arg(recording)
            .args([
                "-vn",
                "-ac",
                "1",
                "-ar",
                "16000",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "32k",
            ])
            .args(["-f", "segment", "-reset_timestamps", "1", "-segment_time"])
            .arg(format!("{part_secs:.3}"))
            .arg(&pattern)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                tracing::warn!(ffmpeg = %self.ffmpeg.display(), error = %err, "could not run ffmpeg");
                return Ok(None);
            }
        };
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| ProviderError::new(CONVERSION, "ffmpeg took too long"))?
            .map_err(|err| ProviderError::new(CONVERSION, format!("ffmpeg failed: {err}")))?;
        if !output.status.success() {
            // What ffmpeg says names our temporary files: the log has it, the bot does not.
            let said = String::from_utf8_lossy(&output.stderr);
            tracing::warn!(ffmpeg = %said.trim(), "ffmpeg could not convert a recording");
            return Err(ProviderError::refused(
                CONVERSION,
                "ffmpeg could not read the recording as audio",
            ));
        }
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(into).await.map_err(could_not_keep)?;
        while let Ok(Some(entry)) = entries.next_entry().await {
            if entry.file_name().to_string_lossy().starts_with("part-") {
                parts.push(entry.path());
            }
        }
        parts.sort();
        for part in &parts {
            let bytes = tokio::fs::metadata(part)
                .await
                .map_or(u64::MAX, |m| m.len());
            if bytes > self.max_upload_bytes {
                return Err(ProviderError::refused(
                    CONVERSION,
                    format!(
                        "even converted, a part of the recording is {bytes} bytes, over the {} the transcription API takes",
                        self.max_upload_bytes
                    ),
                ));
            }
        }
        if parts.is_empty() {
            return Err(ProviderError::refused(
                CONVERSION,
                "ffmpeg found no audio in the recording",
            ));
        }
        Ok(Some((parts, part_secs)))
    }

    /// One file to the transcription API: its segments, and how long the file lasts when
    /// the answer says.
    async fn send(&self, file: &Path) -> Result<(Vec<Segment>, Option<f64>), ProviderError> {
        let audio = tokio::fs::read(file).await.map_err(could_not_keep)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording.wav".into());
        let mut form = Form::new()
            .part("file", Part::bytes(audio).file_name(name))
            .text("model", self.model.clone());
        // OpenAI's newer models refuse `verbose_json`: the diarizing one gives its times and
        // speakers as `diarized_json` (and must be let chunk audio over 30 s), the others
        // only `json`, text without times.
        let model = self.model.to_ascii_lowercase();
        form = if model.contains("diarize") {
            form.text("response_format", "diarized_json")
                .text("chunking_strategy", "auto")
        } else if model.starts_with("gpt-") {
            form.text("response_format", "json")
        } else {
            form.text("response_format", "verbose_json")
        };
        let url = format!(
            "{}/audio/transcriptions",
            self.base.as_str().trim_end_matches('/')
        );
        let mut request = self.client.post(url).multipart(form).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let verbose: Verbose = http::json(SERVICE, request).await?;
        let last_end = verbose.segments.last().map_or(0.0, |s| s.end);
        let duration = verbose.duration.map(|duration| duration.max(last_end));
        if verbose.segments.is_empty() {
            // Text alone (`json`, or a server that gives no segments): kept as one segment
            // rather than lost.
            if let Some(text) = verbose.text.filter(|t| !t.trim().is_empty()) {
                let whole = Segment {
                    start: 0.0,
                    end: duration.unwrap_or(0.0),
                    text,
                    speaker: None,
                };
                return Ok((vec![whole], duration));
            }
        }
        Ok((verbose.segments, duration))
    }
}

/// The formats the transcription API takes as they are (OpenAI's list); others go through
/// ffmpeg first.
const UPLOADABLE: [&str; 10] = [
    "flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm",
];

/// The demuxers a recording may be read with (ffmpeg's names for WAV, MP3, MP4/M4A,
/// Matroska/WebM, Ogg, FLAC and ADTS AAC).
const AUDIO_CONTAINERS: &str = "wav,mp3,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,flac,aac";

/// What `shrink`'s MP3 at 32 kbit/s takes a second.
const MP3_BYTES_A_SECOND: f64 = 4000.0;

/// A recording could not be written to the temporary directory: the detail (a path, the
/// disk) is for the log.
fn could_not_keep(err: std::io::Error) -> ProviderError {
    tracing::warn!(error = %err, "could not keep a recording in a temporary file");
    ProviderError::new(DOWNLOAD, "could not keep the recording on this server")
}

/// A directory of this transcription's files, removed with it.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(root: &Path) -> std::io::Result<Self> {
        let path = root.join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_uploaded_with_an_extension_that_says_its_format() {
        let of = |url: &str, content_type| extension(&Url::parse(url).unwrap(), content_type);
        assert_eq!(
            of("https://s.example/rec/standup.MP3", Some("audio/wav")),
            "mp3"
        );
        assert_eq!(
            of("https://s.example/media/3/raw", Some("audio/mpeg")),
            "mp3"
        );
        assert_eq!(
            of("https://s.example/raw", Some("audio/webm; codecs=opus")),
            "webm"
        );
        assert_eq!(of("https://s.example/", None), "wav");
        assert_eq!(
            of("https://s.example/download.php", Some("audio/mpeg")),
            "mp3"
        );
        assert_eq!(
            of("https://s.example/call.mkv", None),
            "mkv",
            "converted first"
        );
        assert_eq!(of("https://s.example/.hidden", Some("audio/ogg")), "ogg");
        assert_eq!(
            of("https://s.example/a.b%2F..%2Fx", None),
            "wav",
            "no path in it"
        );
    }
}
