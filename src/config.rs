//! One typed configuration, read from flags, environment variables and `.env`, and validated
//! before anything starts. Each concern has its own group; a domain's group is declared, and
//! checked, in the domain's folder (`auth::AuthConfig`, `meetings::MeetingsConfig`). Tests
//! build one with [`Config::for_tests`] and change what they need.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};
use url::Url;

use crate::auth::AuthConfig;
use crate::meetings::MeetingsConfig;

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long = "bind",
        env = "SWITCHBOARD_BIND",
        default_value = "127.0.0.1:8000"
    )]
    pub bind: SocketAddr,
    /// SQLite (`sqlite://…`) or Postgres (`postgres://…`) database; by default an SQLite file
    /// in the data directory (see [`Config::database_url`]).
    #[arg(long = "database-url", env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Connections in the database pool.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub database_max_connections: u32,
    /// Use simulated outside services, and a development secret kept under the data directory.
    #[arg(long = "sandbox", env = "SWITCHBOARD_SANDBOX", value_parser = BoolishValueParser::new())]
    pub sandbox: bool,
    /// Where the embedded database, development secrets and local media live.
    #[arg(
        long = "data-dir",
        env = "SWITCHBOARD_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// How outside services reach our webhooks.
    #[arg(
        long = "public-base-url",
        env = "PUBLIC_BASE_URL",
        default_value = "http://127.0.0.1:8000"
    )]
    pub public_base_url: Url,
    /// `pretty` or `json` log lines.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (it counts every
    /// organisation's traffic together).
    #[arg(long = "metrics-token", env = "METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// Seconds in-flight requests and jobs get to finish at shutdown.
    #[arg(
        long = "shutdown-grace-secs",
        env = "SHUTDOWN_GRACE_SECS",
        default_value_t = 10
    )]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub graphql: GraphqlConfig,
    #[command(flatten)]
    pub jobs: JobsConfig,
    #[command(flatten)]
    pub events: EventsConfig,
    #[command(flatten)]
    pub providers: ProvidersConfig,
    #[command(flatten)]
    pub meetings: MeetingsConfig,
    #[command(flatten)]
    pub channels: crate::channels::ChannelsConfig,
    #[command(flatten)]
    pub secrets: crate::secrets::SecretsConfig,
    #[command(flatten)]
    pub agents: crate::agents::AgentsConfig,
    #[command(flatten)]
    pub broadcasts: crate::broadcasts::BroadcastsConfig,
    #[command(flatten)]
    pub media: crate::media::MediaConfig,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhooksConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct GraphqlConfig {
    /// Deepest selection a query may nest.
    #[arg(
        long = "graphql-max-depth",
        env = "GRAPHQL_MAX_DEPTH",
        default_value_t = 12
    )]
    pub max_depth: usize,
    /// Highest complexity (one per field, lists multiplied by `first`) a query may have.
    #[arg(
        long = "graphql-max-complexity",
        env = "GRAPHQL_MAX_COMPLEXITY",
        default_value_t = 1000
    )]
    pub max_complexity: usize,
    /// Most aliases a document may use.
    #[arg(
        long = "graphql-max-aliases",
        env = "GRAPHQL_MAX_ALIASES",
        default_value_t = 30
    )]
    pub max_aliases: usize,
    /// Whether `__schema` / `__type` introspection is answered.
    #[arg(long = "graphql-introspection", env = "GRAPHQL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub introspection: bool,
    /// Largest request body, in bytes (a 100,000-recipient broadcast is about 1.8 MB).
    #[arg(long = "request-body-limit", env = "REQUEST_BODY_LIMIT", default_value_t = 4 * 1024 * 1024)]
    pub body_limit: usize,
    /// Seconds between keep-alives on an open subscription connection (WebSocket ping, legacy
    /// `ka`, SSE comment); a WebSocket client that has said nothing since the last ping by the
    /// next one is gone and is dropped. At most 30: legacy clients give up after 30 s without
    /// a `ka`.
    #[arg(
        long = "graphql-keep-alive-secs",
        env = "GRAPHQL_KEEP_ALIVE_SECS",
        default_value_t = 15
    )]
    pub keep_alive_secs: u64,
}

impl GraphqlConfig {
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }
}

#[derive(Args, Debug, Clone)]
pub struct JobsConfig {
    /// Jobs one instance runs at the same time.
    #[arg(
        long = "jobs-concurrency",
        env = "JOBS_CONCURRENCY",
        default_value_t = 4
    )]
    pub concurrency: usize,
    /// How often an idle worker looks for due jobs, in milliseconds.
    #[arg(long = "jobs-poll-ms", env = "JOBS_POLL_MS", default_value_t = 500)]
    pub poll_ms: u64,
    /// First retry delay in milliseconds; it doubles with every attempt.
    #[arg(
        long = "jobs-backoff-ms",
        env = "JOBS_BACKOFF_MS",
        default_value_t = 2000
    )]
    pub backoff_ms: u64,
    /// Longest retry delay, in seconds.
    #[arg(
        long = "jobs-backoff-max-secs",
        env = "JOBS_BACKOFF_MAX_SECS",
        default_value_t = 600
    )]
    pub backoff_max_secs: u64,
    /// A running job not finished after this many seconds is taken to be abandoned (its
    /// instance died) and runs again.
    #[arg(
        long = "jobs-lease-secs",
        env = "JOBS_LEASE_SECS",
        default_value_t = 900
    )]
    pub lease_secs: u64,
    /// Run no jobs on this instance (it still enqueues them).
    #[arg(long = "jobs-disabled", env = "JOBS_DISABLED", value_parser = BoolishValueParser::new())]
    pub disabled: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EventsConfig {
    /// Events buffered per topic before a slow subscriber is resynchronised from the database.
    #[arg(long = "events-buffer", env = "EVENTS_BUFFER", default_value_t = 256)]
    pub buffer: usize,
    /// Seconds a subscription waits for an event before it reads the database anyway: a
    /// change whose announcement was lost (an instance that died between its commit and its
    /// NOTIFY) still arrives, this late at worst.
    #[arg(
        long = "events-recheck-secs",
        env = "EVENTS_RECHECK_SECS",
        default_value_t = 10
    )]
    pub recheck_secs: u64,
    /// Postgres NOTIFY channel that carries events between instances.
    #[arg(
        long = "events-channel",
        env = "EVENTS_CHANNEL",
        default_value = "switchboard_events"
    )]
    pub channel: String,
}

/// Outside services. Each is reported in `health` as configured, sandboxed or missing.
#[derive(Args, Debug, Clone)]
pub struct ProvidersConfig {
    /// The meeting-bot service.
    #[arg(long = "bot-service-url", env = "BOT_SERVICE_URL")]
    pub bot_service_url: Option<Url>,
    /// `seed` (POST /bots/start) or `vexa` (POST /bots).
    #[arg(
        long = "bot-service-kind",
        env = "BOT_SERVICE_KIND",
        value_enum,
        default_value = "seed"
    )]
    pub bot_service_kind: BotServiceKind,
    /// Shared secret: sent to the bot service, and required on its callbacks to us.
    #[arg(
        long = "bot-service-secret",
        env = "BOT_SERVICE_SECRET",
        hide_env_values = true
    )]
    pub bot_service_secret: Option<String>,
    /// OpenAI-compatible API base (chat completions).
    #[arg(
        long = "openai-base-url",
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: Url,
    #[arg(
        long = "openai-api-key",
        env = "OPENAI_API_KEY",
        hide_env_values = true
    )]
    pub openai_api_key: Option<String>,
    #[arg(long = "llm-model", env = "LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,
    /// Sent only when set: reasoning models (o-series, gpt-5) refuse any but their own.
    #[arg(long = "llm-temperature", env = "LLM_TEMPERATURE")]
    pub llm_temperature: Option<f64>,
    /// OpenAI-compatible transcription base; the OpenAI base when unset.
    #[arg(long = "transcription-base-url", env = "TRANSCRIPTION_BASE_URL")]
    pub transcription_base_url: Option<Url>,
    #[arg(
        long = "transcription-model",
        env = "TRANSCRIPTION_MODEL",
        default_value = "whisper-1"
    )]
    pub transcription_model: String,
    #[arg(long = "jira-base-url", env = "JIRA_BASE_URL")]
    pub jira_base_url: Option<Url>,
    #[arg(long = "jira-email", env = "JIRA_EMAIL")]
    pub jira_email: Option<String>,
    #[arg(
        long = "jira-api-token",
        env = "JIRA_API_TOKEN",
        hide_env_values = true
    )]
    pub jira_api_token: Option<String>,
    #[arg(long = "jira-project-key", env = "JIRA_PROJECT_KEY")]
    pub jira_project_key: Option<String>,
    #[arg(
        long = "jira-issue-type",
        env = "JIRA_ISSUE_TYPE",
        default_value = "Task"
    )]
    pub jira_issue_type: String,
    /// The Telegram Bot API.
    #[arg(
        long = "telegram-api-base",
        env = "TELEGRAM_API_BASE",
        default_value = crate::providers::messaging::telegram::DEFAULT_BASE
    )]
    pub telegram_api_base: Url,
    /// The Graph API that WhatsApp Cloud sends through, with its version.
    #[arg(
        long = "meta-graph-base",
        env = "META_GRAPH_BASE",
        default_value = crate::providers::messaging::meta::WHATSAPP_DEFAULT_BASE
    )]
    pub meta_graph_base: Url,
    /// The Instagram Graph API, with its version.
    #[arg(
        long = "instagram-graph-base",
        env = "INSTAGRAM_GRAPH_BASE",
        default_value = crate::providers::messaging::meta::INSTAGRAM_DEFAULT_BASE
    )]
    pub instagram_graph_base: Url,
    /// D-ID's API (talking photos).
    #[arg(
        long = "did-api-base",
        env = "DID_API_BASE",
        default_value = "https://api.d-id.com"
    )]
    pub did_api_base: Url,
    /// D-ID's key as D-ID gives it (already `user:password` encoded), sent after `Basic `.
    #[arg(long = "did-api-key", env = "DID_API_KEY", hide_env_values = true)]
    pub did_api_key: Option<String>,
    /// Where D-ID reports a finished talk (the media domain's webhook); unset: it is polled.
    #[arg(long = "did-webhook-url", env = "DID_WEBHOOK_URL")]
    pub did_webhook_url: Option<Url>,
    /// The Microsoft voice D-ID reads a script with when an animation names none.
    #[arg(
        long = "did-voice-id",
        env = "DID_VOICE_ID",
        default_value = "en-US-JennyNeural"
    )]
    pub did_voice_id: String,
    /// HeyGen's API.
    #[arg(
        long = "heygen-api-base",
        env = "HEYGEN_API_BASE",
        default_value = "https://api.heygen.com"
    )]
    pub heygen_api_base: Url,
    /// HeyGen's upload host, where photos go.
    #[arg(
        long = "heygen-upload-base",
        env = "HEYGEN_UPLOAD_BASE",
        default_value = "https://upload.heygen.com"
    )]
    pub heygen_upload_base: Url,
    #[arg(
        long = "heygen-api-key",
        env = "HEYGEN_API_KEY",
        hide_env_values = true
    )]
    pub heygen_api_key: Option<String>,
    /// The HeyGen voice used when an animation names none (HeyGen has no default).
    #[arg(long = "heygen-voice-id", env = "HEYGEN_VOICE_ID")]
    pub heygen_voice_id: Option<String>,
    /// Animate photos with HeyGen rather than D-ID when a caller names neither.
    #[arg(long = "use-heygen", env = "USE_HEYGEN", value_parser = BoolishValueParser::new())]
    pub use_heygen: bool,
    /// Seconds one request to an outside service may take.
    #[arg(
        long = "provider-timeout-secs",
        env = "PROVIDER_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub timeout_secs: u64,
    /// Seconds a recording's download, and then its transcription, may each take: far longer
    /// than other calls, since a 25 MB file goes up and an hour of speech is transcribed.
    #[arg(
        long = "transcription-timeout-secs",
        env = "TRANSCRIPTION_TIMEOUT_SECS",
        default_value_t = 600
    )]
    pub transcription_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BotServiceKind {
    Seed,
    Vexa,
}

impl EventsConfig {
    pub fn recheck(&self) -> Duration {
        Duration::from_secs(self.recheck_secs)
    }
}

impl ProvidersConfig {
    pub fn transcription_base(&self) -> &Url {
        self.transcription_base_url
            .as_ref()
            .unwrap_or(&self.openai_base_url)
    }

    /// Jira needs all four settings; some but not all is a mistake worth stopping for.
    pub fn jira_complete(&self) -> anyhow::Result<bool> {
        let set = [
            self.jira_base_url.is_some(),
            self.jira_email.is_some(),
            self.jira_api_token.is_some(),
            self.jira_project_key.is_some(),
        ];
        match set.iter().filter(|s| **s).count() {
            0 => Ok(false),
            4 => Ok(true),
            _ => bail!("Jira needs JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT_KEY together"),
        }
    }
}

impl JobsConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

/// Parses only the defaults (flags and env are ignored by passing no arguments and no env
/// vars are required): the base for tests and for the `token` command.
#[derive(clap::Parser)]
struct DefaultsOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// The defaults, with a throw-away data directory, for tests.
    pub fn for_tests(database_url: &str, data_dir: &Path) -> Self {
        use clap::Parser;
        let mut config = DefaultsOnly::parse_from(["switchboard"]).config;
        config.database_url = Some(database_url.to_string());
        config.data_dir = data_dir.to_path_buf();
        config.bind = "127.0.0.1:0".parse().expect("literal address");
        config.auth = AuthConfig {
            jwt_secret: Some("test-secret-test-secret-test-secret".into()),
            jwt_public_key: None,
        };
        // 32 bytes of 0x01, in base64.
        config.secrets.secret_key = Some("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into());
        config.jobs.poll_ms = 25;
        config.jobs.backoff_ms = 20;
        config.shutdown_grace_secs = 2;
        config.meetings.sync_interval_secs = 0;
        // Fakes answer at once, so pollers wait between polls instead of Telegram.
        config.channels.telegram_poll_timeout_secs = 0;
        config.channels.telegram_poll_pause_ms = 50;
        config.broadcasts.poll_ms = 25;
        config.broadcasts.retry_ms = 20;
        // The fake services tests talk to listen on 127.0.0.1.
        config.meetings.audio_allow_private_hosts = true;
        config.webhooks.allow_private = true;
        config
    }

    /// The body limit of the routes that take uploads: the largest file and its multipart
    /// framing.
    pub fn upload_body_limit(&self) -> usize {
        usize::try_from(self.media.max_bytes.saturating_add(64 * 1024)).unwrap_or(usize::MAX)
    }

    /// Checks everything that can be checked before start-up, so a bad setting stops the
    /// server with a message instead of failing the first request that needs it.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.secrets.validate()?;
        self.channels.validate()?;
        self.agents.validate()?;
        self.broadcasts.validate()?;
        self.media.validate()?;
        self.webhooks.validate()?;
        let database_url = self.database_url();
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            bail!("DATABASE_URL must start with sqlite: or postgres://");
        }
        if self.database_max_connections == 0 {
            bail!("DATABASE_MAX_CONNECTIONS must be at least 1");
        }
        self.auth.validate(self.sandbox)?;
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            bail!("METRICS_TOKEN must be at least 16 characters");
        }
        self.providers.jira_complete()?;
        self.meetings.validate()?;
        at_least_one(&[
            ("PROVIDER_TIMEOUT_SECS", self.providers.timeout_secs),
            (
                "TRANSCRIPTION_TIMEOUT_SECS",
                self.providers.transcription_timeout_secs,
            ),
            ("JOBS_LEASE_SECS", self.jobs.lease_secs),
            ("JOBS_POLL_MS", self.jobs.poll_ms),
            ("EVENTS_RECHECK_SECS", self.events.recheck_secs),
            ("JOBS_BACKOFF_MS", self.jobs.backoff_ms),
            ("JOBS_BACKOFF_MAX_SECS", self.jobs.backoff_max_secs),
            ("REQUEST_BODY_LIMIT", self.graphql.body_limit as u64),
            ("GRAPHQL_MAX_DEPTH", self.graphql.max_depth as u64),
            ("GRAPHQL_MAX_COMPLEXITY", self.graphql.max_complexity as u64),
            ("GRAPHQL_MAX_ALIASES", self.graphql.max_aliases as u64),
        ])?;
        // A URL without a scheme ("host:8001") parses with the host as its scheme, and every
        // request to it would then fail as if the service were down.
        let urls = [
            ("PUBLIC_BASE_URL", Some(&self.public_base_url)),
            ("BOT_SERVICE_URL", self.providers.bot_service_url.as_ref()),
            ("OPENAI_BASE_URL", Some(&self.providers.openai_base_url)),
            (
                "TRANSCRIPTION_BASE_URL",
                self.providers.transcription_base_url.as_ref(),
            ),
            ("JIRA_BASE_URL", self.providers.jira_base_url.as_ref()),
            ("TELEGRAM_API_BASE", Some(&self.providers.telegram_api_base)),
            ("META_GRAPH_BASE", Some(&self.providers.meta_graph_base)),
            (
                "INSTAGRAM_GRAPH_BASE",
                Some(&self.providers.instagram_graph_base),
            ),
            ("DID_API_BASE", Some(&self.providers.did_api_base)),
            ("DID_WEBHOOK_URL", self.providers.did_webhook_url.as_ref()),
            ("HEYGEN_API_BASE", Some(&self.providers.heygen_api_base)),
            (
                "HEYGEN_UPLOAD_BASE",
                Some(&self.providers.heygen_upload_base),
            ),
        ];
        for (name, url) in urls {
            if let Some(url) =
                url.filter(|u| !matches!(u.scheme(), "http" | "https") || u.host().is_none())
            {
                bail!("{name} must be an http(s) URL with a host, not {url}");
            }
        }
        if let Some(temperature) = self.providers.llm_temperature {
            if !(0.0..=2.0).contains(&temperature) {
                bail!("LLM_TEMPERATURE must be between 0 and 2");
            }
        }
        if !(1..=30).contains(&self.graphql.keep_alive_secs) {
            bail!("GRAPHQL_KEEP_ALIVE_SECS must be between 1 and 30");
        }
        if self.jobs.concurrency == 0 {
            bail!("JOBS_CONCURRENCY must be at least 1");
        }
        if self.events.buffer == 0 {
            bail!("EVENTS_BUFFER must be at least 1");
        }
        if !self
            .events
            .channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            bail!("EVENTS_CHANNEL may hold only letters, digits and underscores");
        }
        Ok(())
    }

    /// The database to use: the one set, or the embedded SQLite file in the data directory,
    /// which moves with the data directory (two servers with their own never share one).
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchboard.db").display()
            )
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url().starts_with("postgres")
    }

    /// Creates the data directory, and the directory of an SQLite file, before first use.
    pub fn prepare_dirs(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        if let Some(path) = sqlite_file(&self.database_url()) {
            if let Some(parent) = Path::new(&path).parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
        Ok(())
    }
}

/// Refuses the first setting that is 0 where 1 is the least that works (a duration, a limit,
/// a count of attempts), by its environment name.
pub fn at_least_one(settings: &[(&str, u64)]) -> anyhow::Result<()> {
    match settings.iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => bail!("{name} must be at least 1"),
        None => Ok(()),
    }
}

fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_is_found_in_both_url_forms() {
        assert_eq!(
            sqlite_file("sqlite://./data/x.db?mode=rwc").as_deref(),
            Some("./data/x.db")
        );
        assert_eq!(
            sqlite_file("sqlite:/tmp/y.db").as_deref(),
            Some("/tmp/y.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn the_embedded_database_lives_in_the_data_directory_unless_one_is_set() {
        let mut config = Config::for_tests("sqlite::memory:", Path::new("/srv/switchboard"));
        config.database_url = None;
        assert_eq!(
            config.database_url(),
            "sqlite:///srv/switchboard/switchboard.db?mode=rwc"
        );
        assert_eq!(
            sqlite_file(&config.database_url()).as_deref(),
            Some("/srv/switchboard/switchboard.db")
        );
        config.data_dir = PathBuf::from("./data");
        assert_eq!(
            config.database_url(),
            "sqlite://./data/switchboard.db?mode=rwc",
            "the default data directory keeps the file where it always was"
        );
        config.database_url = Some("postgres://db/switchboard".into());
        assert_eq!(config.database_url(), "postgres://db/switchboard");
    }

    #[test]
    fn a_short_metrics_token_is_refused_at_start_up() {
        let mut config = Config::for_tests("sqlite::memory:", &std::env::temp_dir());
        config.metrics_token = Some("short".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("METRICS_TOKEN"), "{err}");
        config.metrics_token = Some("long-enough-token-0123".into());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_keep_alive_legacy_clients_would_not_wait_for_is_refused_at_start_up() {
        let dir = std::env::temp_dir();
        let mut config = Config::for_tests("sqlite::memory:", &dir);
        for (secs, accepted) in [(0, false), (1, true), (30, true), (31, false)] {
            config.graphql.keep_alive_secs = secs;
            assert_eq!(config.validate().is_ok(), accepted, "{secs} s");
        }
    }

    #[test]
    fn a_service_url_without_a_scheme_is_refused_at_start_up() {
        let dir = std::env::temp_dir();
        let mut config = Config::for_tests("sqlite::memory:", &dir);
        config.providers.bot_service_url = Some("host.docker.internal:8001".parse().unwrap());
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("BOT_SERVICE_URL"), "{refused}");
        config.providers.bot_service_url =
            Some("http://host.docker.internal:8001".parse().unwrap());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_zero_that_would_break_at_run_time_is_refused_at_start_up() {
        let dir = std::env::temp_dir();
        type Zero = fn(&mut Config);
        let zeroes: [(&str, Zero); 4] = [
            ("JOBS_LEASE_SECS", |c| c.jobs.lease_secs = 0),
            ("PROVIDER_TIMEOUT_SECS", |c| c.providers.timeout_secs = 0),
            ("BOT_CONNECT_TIMEOUT_SECS", |c| {
                c.meetings.connect_timeout_secs = 0
            }),
            ("AUDIO_MAX_BYTES", |c| c.meetings.audio_max_bytes = 0),
        ];
        for (name, zero) in zeroes {
            let mut config = Config::for_tests("sqlite::memory:", &dir);
            zero(&mut config);
            let refused = config.validate().unwrap_err().to_string();
            assert_eq!(refused, format!("{name} must be at least 1"));
        }
    }

    #[test]
    fn one_endpoint_may_not_take_every_webhook_delivery_slot() {
        let mut config = Config::for_tests("sqlite::memory:", &std::env::temp_dir());
        config.webhooks.delivery_concurrency = 4;
        config.webhooks.endpoint_concurrency = 4;
        let refused = config.validate().unwrap_err().to_string();
        assert!(
            refused.starts_with(
                "WEBHOOKS_ENDPOINT_CONCURRENCY (4) must be below WEBHOOKS_CONCURRENCY (4)"
            ),
            "{refused}"
        );
        config.webhooks.endpoint_concurrency = 3;
        assert!(config.validate().is_ok());
    }
}
