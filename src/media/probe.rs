//! What a received file holds: a photo's dimensions and thumbnail (the `image` crate), a
//! video's duration, codec and dimensions (ffprobe) and its thumbnail (a frame by ffmpeg).
//! A file that does not read as what its first bytes claim is refused. The child processes
//! read only the file, as a file of the container it claims (no protocols, no playlists),
//! under a timeout.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::format::{Format, MediaKind};
use crate::error::{AppError, AppResult};

/// Thumbnails fit in a square this wide.
const THUMBNAIL_EDGE: u32 = 320;
/// The video containers ffprobe and ffmpeg may read an upload as.
const VIDEO_CONTAINERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm";

/// What probing found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probed {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_secs: Option<f64>,
    pub codec: Option<String>,
    /// A JPEG no larger than [`THUMBNAIL_EDGE`] on either side.
    pub thumbnail: Option<Vec<u8>>,
}

/// The tools and bounds of probing.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffprobe: PathBuf,
    pub ffmpeg: PathBuf,
    pub timeout: Duration,
    pub photo_max_pixels: u64,
}

fn unreadable(what: &str) -> AppError {
    AppError::BadInput(format!(
        "the file is not a readable {what}: it may be corrupt or truncated"
    ))
}

pub async fn probe(tools: &Tools, file: &Path, format: Format) -> AppResult<Probed> {
    match format.kind() {
        MediaKind::Photo => {
            let (file, tools) = (file.to_path_buf(), tools.clone());
            tokio::task::spawn_blocking(move || photo(&tools, &file, format))
                .await
                .map_err(AppError::internal)?
        }
        MediaKind::Video => video(tools, file).await,
    }
}

fn photo(tools: &Tools, file: &Path, format: Format) -> AppResult<Probed> {
    let image_format = format
        .image_format()
        .ok_or_else(|| AppError::internal("a photo format without an image decoder"))?;
    let open = || -> AppResult<image::ImageReader<std::io::BufReader<std::fs::File>>> {
        let file = std::fs::File::open(file).map_err(AppError::internal)?;
        let mut reader = image::ImageReader::new(std::io::BufReader::new(file));
        reader.set_format(image_format);
        Ok(reader)
    };
    let (width, height) = open()?.into_dimensions().map_err(|_| unreadable("photo"))?;
    if u64::from(width) * u64::from(height) > tools.photo_max_pixels {
        return Err(AppError::BadInput(format!(
            "the photo is {width}×{height}: more than the {} pixels this server takes",
            tools.photo_max_pixels
        )));
    }
    let image = open()?.decode().map_err(|_| unreadable("photo"))?;
    let mut thumbnail = Vec::new();
    image
        .thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE)
        .to_rgb8()
        .write_to(&mut Cursor::new(&mut thumbnail), image::ImageFormat::Jpeg)
        .map_err(AppError::internal)?;
    Ok(Probed {
        width: Some(width),
        height: Some(height),
        thumbnail: Some(thumbnail),
        ..Probed::default()
    })
}

#[derive(Deserialize)]
struct FfprobeOutput {
    #[serde(default)]
    streams: Vec<FfprobeStream>,
    format: Option<FfprobeFormat>,
}

#[derive(Deserialize)]
struct FfprobeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct FfprobeFormat {
    duration: Option<String>,
}

/// Runs a tool on the file under the timeout: its standard output, or `None` when it
/// failed to read the file (what it said goes to the log: it names our paths).
async fn run(
    tools: &Tools,
    program: &Path,
    args: &[&str],
    file: &Path,
    after: &[&str],
) -> AppResult<Option<Vec<u8>>> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .args([
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            VIDEO_CONTAINERS,
            "-i",
        ])
        .arg(file)
        .args(after)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|err| {
        AppError::NotConfigured(format!(
            "videos need {} (install ffmpeg, or set FFPROBE_PATH / FFMPEG_PATH): {err}",
            program.display()
        ))
    })?;
    let output = tokio::time::timeout(tools.timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            AppError::BadInput(format!(
                "reading the video took longer than {} s",
                tools.timeout.as_secs()
            ))
        })?
        .map_err(AppError::internal)?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        tracing::info!(tool = %program.display(), said = %said.trim(), "a media tool refused a file");
        return Ok(None);
    }
    Ok(Some(output.stdout))
}

async fn video(tools: &Tools, file: &Path) -> AppResult<Probed> {
    let output = run(
        tools,
        &tools.ffprobe,
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ],
        file,
        &[],
    )
    .await?
    .ok_or_else(|| unreadable("video"))?;
    let probed: FfprobeOutput = serde_json::from_slice(&output).map_err(|_| unreadable("video"))?;
    let stream = probed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"))
        .ok_or_else(|| AppError::BadInput("the file holds no video stream".into()))?;
    let duration = probed
        .format
        .as_ref()
        .and_then(|f| f.duration.as_deref())
        .or(stream.duration.as_deref())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| unreadable("video"))?;
    // The frame at 1 s, or the first of a shorter clip.
    let at = if duration > 1.0 { "1" } else { "0" };
    let thumbnail = run(
        tools,
        &tools.ffmpeg,
        &["-nostdin", "-hide_banner", "-loglevel", "error", "-ss", at],
        file,
        &[
            "-frames:v",
            "1",
            "-vf",
            &format!("scale='min({THUMBNAIL_EDGE},iw)':'min({THUMBNAIL_EDGE},ih)':force_original_aspect_ratio=decrease"),
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "pipe:1",
        ],
    )
    .await?
    .filter(|jpeg| !jpeg.is_empty())
    .ok_or_else(|| unreadable("video"))?;
    Ok(Probed {
        width: stream.width,
        height: stream.height,
        duration_secs: Some(duration),
        codec: stream.codec_name.clone(),
        thumbnail: Some(thumbnail),
    })
}
