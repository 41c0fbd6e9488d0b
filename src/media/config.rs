//! The media domain's settings: where media are stored, what an upload may be, how the
//! child processes that read videos are bounded, and how animations are followed. Part of
//! [`crate::config::Config`]; checked by [`MediaConfig::validate`] at start-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::config::at_least_one;

#[derive(Args, Debug, Clone)]
pub struct MediaConfig {
    /// Where media are kept: `file:///path`, or `s3://bucket/prefix` with the usual AWS_*
    /// variables (AWS_ENDPOINT for MinIO or R2). Unset: `media/` under the data directory.
    #[arg(long = "storage-url", env = "STORAGE_URL")]
    pub storage_url: Option<String>,
    /// Largest upload, in bytes; a larger one is refused while it streams in.
    #[arg(
        long = "media-max-bytes",
        env = "MEDIA_MAX_BYTES",
        default_value_t = 1024 * 1024 * 1024
    )]
    pub max_bytes: u64,
    /// Largest photo, in pixels, that is decoded for its thumbnail (a guard against images
    /// that decompress into gigabytes).
    #[arg(
        long = "media-photo-max-pixels",
        env = "MEDIA_PHOTO_MAX_PIXELS",
        default_value_t = 100_000_000
    )]
    pub photo_max_pixels: u64,
    /// The ffprobe that validates videos (ffmpeg itself is FFMPEG_PATH).
    #[arg(long = "ffprobe-path", env = "FFPROBE_PATH", default_value = "ffprobe")]
    pub ffprobe_path: PathBuf,
    /// How long ffprobe or ffmpeg may run on one file.
    #[arg(
        long = "media-tool-timeout-secs",
        env = "MEDIA_TOOL_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub tool_timeout_secs: u64,
    /// How long a signed media link works.
    #[arg(
        long = "media-link-secs",
        env = "MEDIA_LINK_SECS",
        default_value_t = 3600
    )]
    pub link_secs: u64,
    /// Seconds between two status reads of an animation at its provider.
    #[arg(
        long = "animation-poll-secs",
        env = "ANIMATION_POLL_SECS",
        default_value_t = 5
    )]
    pub animation_poll_secs: u64,
    /// An animation not finished this long after it was started fails.
    #[arg(
        long = "animation-timeout-secs",
        env = "ANIMATION_TIMEOUT_SECS",
        default_value_t = 600
    )]
    pub animation_timeout_secs: u64,
    /// Tries of each provider call (starting, reading, downloading) on transient errors.
    #[arg(
        long = "animation-max-attempts",
        env = "ANIMATION_MAX_ATTEMPTS",
        default_value_t = 4
    )]
    pub animation_max_attempts: u32,
}

impl MediaConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        at_least_one(&[
            ("MEDIA_MAX_BYTES", self.max_bytes),
            ("MEDIA_PHOTO_MAX_PIXELS", self.photo_max_pixels),
            ("MEDIA_TOOL_TIMEOUT_SECS", self.tool_timeout_secs),
            ("MEDIA_LINK_SECS", self.link_secs),
            ("ANIMATION_POLL_SECS", self.animation_poll_secs),
            ("ANIMATION_TIMEOUT_SECS", self.animation_timeout_secs),
            (
                "ANIMATION_MAX_ATTEMPTS",
                u64::from(self.animation_max_attempts),
            ),
        ])?;
        if let Some(url) = &self.storage_url {
            if !(url.starts_with("file://") || url.starts_with("s3://")) {
                bail!("STORAGE_URL must be file:///path or s3://bucket[/prefix], not {url}");
            }
        }
        Ok(())
    }

    pub fn tool_timeout(&self) -> Duration {
        Duration::from_secs(self.tool_timeout_secs)
    }

    /// Where files being received wait until they are checked and stored.
    pub fn incoming_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("media-incoming")
    }
}
