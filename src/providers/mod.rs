//! Clients of outside services. Each service is a trait with a real HTTP implementation;
//! `--sandbox` swaps in the simulated ones from `sandbox`. `health` reports, for each,
//! whether it is configured, sandboxed or missing.

pub mod animator;
pub mod bot_service;
pub mod http;
pub mod jira;
pub mod llm;
pub mod messaging;
pub mod public_net;
pub mod sandbox;
pub mod storage;
pub mod transcription;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Enum, SimpleObject};

use crate::config::{BotServiceKind, Config};
use crate::error::{AppError, AppResult};

pub use animator::{Animator, AnimatorKind, Animators};
pub use bot_service::BotService;
pub use http::ProviderError;
pub use jira::TaskTracker;
pub use llm::Llm;
pub use messaging::Messengers;
pub use transcription::Transcriber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProviderStatus {
    /// Talks to the real service with configured credentials.
    Configured,
    /// Simulated (`--sandbox`): nothing leaves this machine.
    Sandbox,
    /// Not configured: operations that need it fail with NOT_CONFIGURED.
    NotConfigured,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderHealth {
    pub name: String,
    pub status: ProviderStatus,
}

/// The outside services this instance talks to, chosen once at start-up.
#[derive(Clone)]
pub struct Providers {
    pub bot_service: Option<Arc<dyn BotService>>,
    pub llm: Option<Arc<dyn Llm>>,
    pub transcriber: Option<Arc<dyn Transcriber>>,
    pub tasks: Option<Arc<dyn TaskTracker>>,
    /// Always there: each integration brings its own credentials.
    pub messengers: Messengers,
    /// D-ID and HeyGen, each present when its key is set.
    pub animators: Animators,
    /// What an agent's own model, key or server is added to.
    chat_defaults: Option<ChatDefaults>,
    sandbox: bool,
}

#[derive(Clone)]
struct ChatDefaults {
    client: reqwest::Client,
    base: url::Url,
    api_key: Option<String>,
    model: String,
    temperature: Option<f64>,
}

/// An agent's choice of model, key and OpenAI-compatible server; `None` takes the server's.
#[derive(Default)]
pub struct ModelChoice {
    pub model: Option<String>,
    pub api_key: Option<crate::secrets::Secret>,
    pub base: Option<url::Url>,
}

fn missing(what: &str, settings: &str) -> AppError {
    AppError::NotConfigured(format!(
        "{what} is not configured: set {settings}, or run with --sandbox"
    ))
}

impl Providers {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        if config.sandbox {
            return Ok(sandbox::providers(config));
        }
        let p = &config.providers;
        let builder = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(p.timeout_secs))
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        };
        let client = builder().build()?;
        let client_for_chat = client.clone();
        let bot_service: Option<Arc<dyn BotService>> =
            p.bot_service_url
                .clone()
                .map(|base| match p.bot_service_kind {
                    BotServiceKind::Seed => Arc::new(bot_service::SeedBotService {
                        client: client.clone(),
                        base,
                        secret: p.bot_service_secret.clone(),
                    }) as Arc<dyn BotService>,
                    BotServiceKind::Vexa => Arc::new(bot_service::VexaBotService {
                        client: client.clone(),
                        base,
                        secret: p.bot_service_secret.clone(),
                    }),
                });
        let llm_configured =
            p.openai_api_key.is_some() || p.openai_base_url.host_str() != Some("api.openai.com");
        let llm: Option<Arc<dyn Llm>> = llm_configured.then(|| {
            Arc::new(llm::OpenAiChat {
                client: client.clone(),
                base: p.openai_base_url.clone(),
                api_key: p.openai_api_key.clone(),
                model: p.llm_model.clone(),
                temperature: p.llm_temperature,
            }) as Arc<dyn Llm>
        });
        let transcription_configured =
            p.openai_api_key.is_some() || p.transcription_base_url.is_some();
        let public_client = public_net::restrict(builder()).build()?;
        let in_progress = config.data_dir.join("recordings-in-progress");
        remove_left_behind(&in_progress);
        // A folder of this instance's own: another on the same data directory keeps its.
        let work_root = in_progress.join(uuid::Uuid::new_v4().to_string());
        let transcriber: Option<Arc<dyn Transcriber>> = transcription_configured.then(|| {
            Arc::new(transcription::OpenAiTranscriber {
                client: client.clone(),
                public_client: public_client.clone(),
                base: p.transcription_base().clone(),
                api_key: p.openai_api_key.clone(),
                model: p.transcription_model.clone(),
                max_audio_bytes: config.meetings.audio_max_bytes,
                max_upload_bytes: config.meetings.transcription_max_upload_bytes,
                ffmpeg: config.meetings.ffmpeg_path.clone(),
                work_root,
                timeout: Duration::from_secs(p.transcription_timeout_secs),
            }) as Arc<dyn Transcriber>
        });
        let messengers = Messengers::new(
            client.clone(),
            messaging::MessagingBases {
                telegram: p.telegram_api_base.clone(),
                whatsapp: p.meta_graph_base.clone(),
                instagram: p.instagram_graph_base.clone(),
            },
        );
        let animators = Animators::from_config(p, &client)?;
        let tasks: Option<Arc<dyn TaskTracker>> = if p.jira_complete()? {
            Some(Arc::new(jira::JiraCloud {
                client,
                base: p.jira_base_url.clone().expect("checked complete"),
                email: p.jira_email.clone().expect("checked complete"),
                api_token: p.jira_api_token.clone().expect("checked complete"),
                project_key: p.jira_project_key.clone().expect("checked complete"),
                issue_type: p.jira_issue_type.clone(),
                labels_refused: Default::default(),
            }))
        } else {
            None
        };
        let chat_defaults = Some(ChatDefaults {
            client: client_for_chat,
            base: p.openai_base_url.clone(),
            api_key: p.openai_api_key.clone(),
            model: p.llm_model.clone(),
            temperature: p.llm_temperature,
        });
        Ok(Self {
            bot_service,
            llm,
            transcriber,
            tasks,
            messengers,
            animators,
            chat_defaults,
            sandbox: false,
        })
    }

    pub fn bot_service(&self) -> AppResult<&Arc<dyn BotService>> {
        self.bot_service
            .as_ref()
            .ok_or_else(|| missing("the meeting-bot service", "BOT_SERVICE_URL"))
    }

    pub fn llm(&self) -> AppResult<&Arc<dyn Llm>> {
        self.llm
            .as_ref()
            .ok_or_else(|| missing("the LLM", "OPENAI_API_KEY or OPENAI_BASE_URL"))
    }

    /// The LLM that answers for an agent: its own model, key and server where it has them,
    /// the server's otherwise.
    pub fn llm_for(&self, choice: ModelChoice) -> AppResult<Arc<dyn Llm>> {
        if self.sandbox {
            return self.llm().cloned();
        }
        let defaults = self
            .chat_defaults
            .as_ref()
            .ok_or_else(|| missing("the LLM", "OPENAI_API_KEY or OPENAI_BASE_URL"))?;
        let api_key = match choice.api_key {
            Some(key) => Some(key.expose().to_string()),
            None => defaults.api_key.clone(),
        };
        let base = choice.base.unwrap_or_else(|| defaults.base.clone());
        if api_key.is_none() && base.host_str() == Some("api.openai.com") {
            return Err(missing(
                "the LLM",
                "OPENAI_API_KEY, OPENAI_BASE_URL or the agent's own key",
            ));
        }
        Ok(Arc::new(llm::OpenAiChat {
            client: defaults.client.clone(),
            base,
            api_key,
            model: choice.model.unwrap_or_else(|| defaults.model.clone()),
            temperature: defaults.temperature,
        }))
    }

    pub fn transcriber(&self) -> AppResult<&Arc<dyn Transcriber>> {
        self.transcriber
            .as_ref()
            .ok_or_else(|| missing("transcription", "OPENAI_API_KEY or TRANSCRIPTION_BASE_URL"))
    }

    pub fn tasks(&self) -> AppResult<&Arc<dyn TaskTracker>> {
        self.tasks.as_ref().ok_or_else(|| {
            missing(
                "Jira",
                "JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT_KEY",
            )
        })
    }

    /// The animator for `kind`; `None`: the configured default (`USE_HEYGEN`).
    pub fn animator(&self, kind: Option<AnimatorKind>) -> AppResult<Arc<dyn Animator>> {
        let kind = kind.unwrap_or(self.animators.default);
        self.animators.get(kind).cloned().ok_or_else(|| match kind {
            AnimatorKind::DId => missing("D-ID", "DID_API_KEY"),
            AnimatorKind::HeyGen => missing("HeyGen", "HEYGEN_API_KEY"),
        })
    }

    /// The animator used when a caller names none.
    pub fn default_animator(&self) -> AnimatorKind {
        self.animators.default
    }

    pub fn health(&self) -> Vec<ProviderHealth> {
        let entry = |name: &str, present: bool| ProviderHealth {
            name: name.to_string(),
            status: match (self.sandbox, present) {
                (true, _) => ProviderStatus::Sandbox,
                (false, true) => ProviderStatus::Configured,
                (false, false) => ProviderStatus::NotConfigured,
            },
        };
        // The messengers need no settings of their own: each integration brings its account.
        vec![
            entry("botService", self.bot_service.is_some()),
            entry("llm", self.llm.is_some()),
            entry("transcription", self.transcriber.is_some()),
            entry("jira", self.tasks.is_some()),
            entry("d-id", self.animators.did.is_some()),
            entry("heygen", self.animators.heygen.is_some()),
            entry("telegram", true),
            entry("whatsapp", true),
            entry("instagram", true),
        ]
    }
}

/// What instances killed mid-transcription left in `in_progress`: folders untouched for a
/// day, longer than any transcription runs.
fn remove_left_behind(in_progress: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(in_progress) else {
        return;
    };
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < day_ago);
        if stale {
            if let Err(err) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %err, "could not remove a recording left behind");
            }
        }
    }
}
