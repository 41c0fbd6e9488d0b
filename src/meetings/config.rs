//! The meetings domain's settings: how often bots are synced, when they time out, how long
//! they are kept, and what the pipeline accepts. Part of [`crate::config::Config`] (its flags
//! are global like the rest); checked by [`MeetingsConfig::validate`] at start-up.

use std::path::PathBuf;

use anyhow::bail;
use clap::builder::BoolishValueParser;
use clap::Args;

use crate::config::at_least_one;

#[derive(Args, Debug, Clone)]
pub struct MeetingsConfig {
    /// Seconds between status syncs with the bot service; 0 turns the sync off.
    #[arg(
        long = "bot-sync-interval-secs",
        env = "BOT_SYNC_INTERVAL_SECS",
        default_value_t = 3
    )]
    pub sync_interval_secs: u64,
    /// Bot-service requests in flight at once during one sync.
    #[arg(
        long = "bot-sync-concurrency",
        env = "BOT_SYNC_CONCURRENCY",
        default_value_t = 64
    )]
    pub sync_concurrency: usize,
    /// A bot not CONNECTED (nor waiting to be admitted) this long after it was triggered fails.
    #[arg(
        long = "bot-connect-timeout-secs",
        env = "BOT_CONNECT_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub connect_timeout_secs: u64,
    /// A bot left in the waiting room this long fails.
    #[arg(
        long = "bot-admission-timeout-secs",
        env = "BOT_ADMISSION_TIMEOUT_SECS",
        default_value_t = 900
    )]
    pub admission_timeout_secs: u64,
    /// A bot still CONNECTED this long after it joined fails: a meeting that never ends for
    /// the service, or a service that lost the bot, would otherwise hold the meeting forever.
    #[arg(
        long = "bot-meeting-timeout-secs",
        env = "BOT_MEETING_TIMEOUT_SECS",
        default_value_t = 6 * 3600
    )]
    pub meeting_timeout_secs: u64,
    /// How long a bot whose service hands its recording over by callback (the seed's) waits
    /// for it after the service says the meeting is over, before it ends DONE with none.
    #[arg(
        long = "bot-recording-grace-secs",
        env = "BOT_RECORDING_GRACE_SECS",
        default_value_t = 600
    )]
    pub recording_grace_secs: u64,
    /// Bots (and their history, transcript and tasks) older than this are deleted.
    #[arg(
        long = "meeting-retention-days",
        env = "MEETING_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub retention_days: u64,
    /// Largest recording the pipeline downloads, in bytes (kept in a temporary file).
    #[arg(long = "audio-max-bytes", env = "AUDIO_MAX_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub audio_max_bytes: u64,
    /// Largest file the transcription API takes (OpenAI's 25 MB): a larger recording is made
    /// mono 16 kHz MP3 by ffmpeg, in parts each under this.
    #[arg(
        long = "transcription-max-upload-bytes",
        env = "TRANSCRIPTION_MAX_UPLOAD_BYTES",
        default_value_t = 25 * 1024 * 1024
    )]
    pub transcription_max_upload_bytes: u64,
    /// The ffmpeg that makes large recordings smaller.
    #[arg(long = "ffmpeg-path", env = "FFMPEG_PATH", default_value = "ffmpeg")]
    pub ffmpeg_path: PathBuf,
    /// Let callers' recording URLs point into private networks (a development setting: by
    /// default only the bot service's may, and a caller's must be a public address).
    #[arg(long = "audio-allow-private-hosts", env = "AUDIO_ALLOW_PRIVATE_HOSTS", value_parser = BoolishValueParser::new())]
    pub audio_allow_private_hosts: bool,
    /// Attempts the pipeline makes before the bot is marked ERROR.
    #[arg(
        long = "pipeline-max-attempts",
        env = "PIPELINE_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub pipeline_max_attempts: u32,
}

impl MeetingsConfig {
    /// Refuses what would only break at run time: a zero where one is the least that works,
    /// a recording grace longer than a day.
    pub fn validate(&self) -> anyhow::Result<()> {
        at_least_one(&[
            ("BOT_SYNC_CONCURRENCY", self.sync_concurrency as u64),
            ("MEETING_RETENTION_DAYS", self.retention_days),
            ("BOT_CONNECT_TIMEOUT_SECS", self.connect_timeout_secs),
            ("BOT_ADMISSION_TIMEOUT_SECS", self.admission_timeout_secs),
            ("BOT_MEETING_TIMEOUT_SECS", self.meeting_timeout_secs),
            ("AUDIO_MAX_BYTES", self.audio_max_bytes),
            (
                "TRANSCRIPTION_MAX_UPLOAD_BYTES",
                self.transcription_max_upload_bytes,
            ),
            ("PIPELINE_MAX_ATTEMPTS", self.pipeline_max_attempts as u64),
        ])?;
        if self.recording_grace_secs > 86_400 {
            bail!("BOT_RECORDING_GRACE_SECS must be at most 86400 (a day)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> MeetingsConfig {
        crate::config::Config::for_tests("sqlite::memory:", &std::env::temp_dir()).meetings
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(defaults().validate().is_ok());
    }

    #[test]
    fn a_zero_that_would_break_at_run_time_is_refused() {
        type Zero = fn(&mut MeetingsConfig);
        let zeroes: [(&str, Zero); 4] = [
            ("BOT_SYNC_CONCURRENCY", |c| c.sync_concurrency = 0),
            ("MEETING_RETENTION_DAYS", |c| c.retention_days = 0),
            ("BOT_ADMISSION_TIMEOUT_SECS", |c| {
                c.admission_timeout_secs = 0
            }),
            ("PIPELINE_MAX_ATTEMPTS", |c| c.pipeline_max_attempts = 0),
        ];
        for (name, zero) in zeroes {
            let mut config = defaults();
            zero(&mut config);
            let refused = config.validate().unwrap_err().to_string();
            assert_eq!(refused, format!("{name} must be at least 1"));
        }
    }

    #[test]
    fn a_recording_grace_of_more_than_a_day_is_refused() {
        let mut config = defaults();
        config.recording_grace_secs = 86_400;
        assert!(config.validate().is_ok());
        config.recording_grace_secs = 86_401;
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("BOT_RECORDING_GRACE_SECS"), "{refused}");
    }
}
