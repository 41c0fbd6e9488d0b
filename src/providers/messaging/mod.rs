//! The messaging channels agents talk on: Telegram bots, WhatsApp Cloud numbers, Instagram
//! professional accounts and WhatsApp phones paired through a WAHA server. Each integration brings its own credentials ([`ChannelAccount`]), so
//! the clients hold none; inbound webhooks are parsed into the same [`InboundMessage`] whatever
//! the channel. Failures are told apart for the caller: [`ProviderError::is_transient`] with
//! `retry_after` for "slow down", `hopeless` for "this recipient or account will not take it".

pub mod meta;
pub mod sandbox;
pub mod telegram;
pub mod waha;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use super::http::{self, ProviderError};
use meta::{InstagramApi, WhatsappCloudApi};
use sandbox::SandboxMessenger;
use telegram::TelegramApi;
use waha::{WahaAccount, WahaApi};

/// A message someone sent to one of our accounts. It travels in a durable job's payload, so
/// it serializes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// Unique per account, so a webhook delivered twice is recognised.
    pub provider_message_id: String,
    /// Who wrote it.
    pub remote_user_id: String,
    pub remote_user_name: Option<String>,
    /// Where replies go: the sender in a direct chat, the group in a Telegram group.
    pub chat_id: String,
    pub text: String,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What became of a message we sent (WhatsApp reports it; Telegram and Instagram do not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    pub provider_message_id: String,
    pub status: Delivery,
    /// Why it failed, as the provider put it.
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Sent,
    Delivered,
    Read,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The provider's id of the message, as its delivery updates will name it.
    pub provider_message_id: String,
}

/// A credential: kept out of Debug output, and without Display, so that it cannot end up in a
/// log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `err` with any copy of the secret masked: a proxy or an odd answer may echo the
    /// request's URL, which for Telegram holds the bot token.
    fn scrub(&self, mut err: ProviderError) -> ProviderError {
        if !self.0.is_empty() {
            err.message = err.message.replace(&self.0, "***");
        }
        err
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One integration's account on a channel, with the credentials it sends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelAccount {
    Telegram {
        bot_token: Secret,
    },
    WhatsappCloud {
        phone_number_id: String,
        access_token: Secret,
    },
    Instagram {
        account_id: String,
        access_token: Secret,
    },
    /// A simulated account: its sends go to the sandbox messenger, with or without
    /// `--sandbox`, so a flow can be tried with no outside account.
    Sandbox,
    /// A WhatsApp phone paired to a WAHA session.
    WhatsappDevice(WahaAccount),
}

impl ChannelAccount {
    pub fn channel(&self) -> &'static str {
        match self {
            ChannelAccount::Telegram { .. } => "telegram",
            ChannelAccount::WhatsappCloud { .. } | ChannelAccount::WhatsappDevice(_) => "whatsapp",
            ChannelAccount::Instagram { .. } => "instagram",
            ChannelAccount::Sandbox => "sandbox",
        }
    }
}

#[async_trait]
pub trait Messenger: Send + Sync + 'static {
    /// Sends `text` to `to` (a Telegram chat id, a WhatsApp number, an Instagram-scoped user
    /// id) from `account`.
    async fn send_text(
        &self,
        account: &ChannelAccount,
        to: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError>;
}

/// Where each channel's API lives; tests and air-gapped installs point them elsewhere.
#[derive(Debug, Clone)]
pub struct MessagingBases {
    pub telegram: Url,
    pub whatsapp: Url,
    pub instagram: Url,
}

impl Default for MessagingBases {
    fn default() -> Self {
        let parse = |base: &str| Url::parse(base).expect("a valid default base");
        Self {
            telegram: parse(telegram::DEFAULT_BASE),
            whatsapp: parse(meta::WHATSAPP_DEFAULT_BASE),
            instagram: parse(meta::INSTAGRAM_DEFAULT_BASE),
        }
    }
}

/// The real clients of the three channels, and the simulation sandbox accounts send to.
#[derive(Debug)]
pub struct LiveMessengers {
    pub telegram: TelegramApi,
    pub whatsapp: WhatsappCloudApi,
    pub instagram: InstagramApi,
    pub waha: WahaApi,
    pub sandbox: SandboxMessenger,
}

/// What the agents and channels domains hold to send: the real channels, or with `--sandbox`
/// a simulation that records what it was asked to send.
#[derive(Debug, Clone)]
pub enum Messengers {
    Live(Arc<LiveMessengers>),
    Sandbox(Arc<SandboxMessenger>),
}

impl Messengers {
    pub fn new(client: Client, bases: MessagingBases) -> Self {
        Messengers::Live(Arc::new(LiveMessengers {
            telegram: TelegramApi {
                client: client.clone(),
                base: bases.telegram,
            },
            whatsapp: WhatsappCloudApi {
                client: client.clone(),
                base: bases.whatsapp,
            },
            instagram: InstagramApi {
                client: client.clone(),
                base: bases.instagram,
            },
            waha: WahaApi { client },
            sandbox: SandboxMessenger::default(),
        }))
    }

    pub fn sandbox() -> Self {
        Messengers::Sandbox(Arc::new(SandboxMessenger::default()))
    }

    /// The Bot API, for registering webhooks and long polling; none in the sandbox, where
    /// there is no bot to register.
    pub fn telegram(&self) -> Option<&TelegramApi> {
        match self {
            Messengers::Live(live) => Some(&live.telegram),
            Messengers::Sandbox(_) => None,
        }
    }

    /// WAHA servers, for pairing WhatsApp devices; none in the sandbox, which pretends.
    pub fn waha(&self) -> Option<&WahaApi> {
        match self {
            Messengers::Live(live) => Some(&live.waha),
            Messengers::Sandbox(_) => None,
        }
    }

    /// Where sends from sandbox accounts (and every send under `--sandbox`) are recorded.
    pub fn simulated(&self) -> &SandboxMessenger {
        match self {
            Messengers::Live(live) => &live.sandbox,
            Messengers::Sandbox(sandbox) => sandbox,
        }
    }
}

#[async_trait]
impl Messenger for Messengers {
    async fn send_text(
        &self,
        account: &ChannelAccount,
        to: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let live = match self {
            Messengers::Live(live) => live,
            Messengers::Sandbox(sandbox) => return sandbox.send_text(account, to, text).await,
        };
        match account {
            ChannelAccount::Telegram { bot_token } => {
                live.telegram.send_message(bot_token, to, text).await
            }
            ChannelAccount::WhatsappCloud {
                phone_number_id,
                access_token,
            } => {
                live.whatsapp
                    .send_text(phone_number_id, access_token, to, text)
                    .await
            }
            ChannelAccount::Instagram {
                account_id,
                access_token,
            } => {
                live.instagram
                    .send_text(account_id, access_token, to, text)
                    .await
            }
            ChannelAccount::WhatsappDevice(device) => live.waha.send_text(device, to, text).await,
            ChannelAccount::Sandbox => live.sandbox.send_text(account, to, text).await,
        }
    }
}

/// The most of an answer read: a send's answer is a few hundred bytes, and a page of 100
/// Telegram updates stays well below this.
const ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// An answer's status and body, whatever the status: Telegram and the Graph API explain a
/// failure in JSON that says more than the status does.
async fn exchange(
    service: &'static str,
    request: RequestBuilder,
) -> Result<(StatusCode, Vec<u8>), ProviderError> {
    let response = http::transport(service, request).await?;
    let status = response.status();
    match http::read_capped(response, ANSWER_BYTES).await {
        Ok(http::Capped::Whole(body)) => Ok((status, body)),
        Ok(http::Capped::TooLarge(_)) => Err(ProviderError {
            status: Some(status.as_u16()),
            ..ProviderError::new(
                service,
                format!("answered with more than {ANSWER_BYTES} bytes"),
            )
        }),
        // Said without the error, whose text may hold the URL.
        Err(_) => Err(ProviderError::new(
            service,
            "connection dropped while reading the answer",
        )),
    }
}

/// A failure whose body is not the provider's usual JSON (a proxy's error page, say).
fn unexplained(service: &'static str, status: StatusCode, body: &[u8]) -> ProviderError {
    ProviderError {
        status: Some(status.as_u16()),
        ..ProviderError::new(
            service,
            http::excerpt(&String::from_utf8_lossy(body), status),
        )
    }
}

/// An answer that is not the JSON a success should carry.
fn unexpected(service: &'static str) -> ProviderError {
    ProviderError::new(service, "answered with unexpected JSON")
}

/// Whether `given` is the shared secret `expected` (none matches an empty one). The digests
/// are compared, so the time taken tells nothing about how much of the secret was right.
fn same_secret(expected: &str, given: &str) -> bool {
    !expected.is_empty() && Sha256::digest(expected) == Sha256::digest(given)
}

/// The elements of a JSON array; none for anything else.
fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// `base` with `segments` added to its path (after Graph's version), each escaped: an
/// account id or a token with a `/` or `?` in it stays one segment.
fn endpoint(service: &'static str, base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| ProviderError::refused(service, "the base URL cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A Unix time in seconds, as a number or (WhatsApp) a string of digits.
fn unix_secs(value: &Value) -> Option<DateTime<Utc>> {
    let secs = match value {
        Value::String(digits) => digits.parse().ok()?,
        other => other.as_i64()?,
    };
    DateTime::from_timestamp(secs, 0)
}

/// An id that may come as a number (Telegram's) or a string (Meta's), as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// A client as the server builds one: reqwest comes without a TLS provider, and the process
/// installs ring. Its timeout is short, for the test of one.
#[cfg(test)]
fn test_client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("a client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_print_as_stars_in_debug_output() {
        let account = ChannelAccount::WhatsappCloud {
            phone_number_id: "106540352242922".into(),
            access_token: Secret::new("EAAG-very-secret"),
        };
        let printed = format!("{account:?}");
        assert!(printed.contains("106540352242922"));
        assert!(printed.contains("***"));
        assert!(!printed.contains("EAAG-very-secret"));
    }

    #[test]
    fn ids_and_times_are_read_as_numbers_or_strings() {
        assert_eq!(id_text(&serde_json::json!(-1001234)).unwrap(), "-1001234");
        assert_eq!(id_text(&serde_json::json!("wamid.X")).unwrap(), "wamid.X");
        assert_eq!(id_text(&serde_json::json!("")), None);
        let at = DateTime::from_timestamp(1749416383, 0);
        assert_eq!(unix_secs(&serde_json::json!("1749416383")), at);
        assert_eq!(unix_secs(&serde_json::json!(1749416383)), at);
        assert_eq!(unix_secs(&serde_json::json!("soon")), None);
    }

    #[tokio::test]
    async fn each_account_is_sent_through_its_own_channel() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let server = MockServer::start().await;
        let answers = [
            (
                "/bot1:tg/sendMessage",
                serde_json::json!({"ok": true, "result": {"message_id": 5, "chat": {"id": 42}, "date": 1}}),
            ),
            (
                "/wa/1065/messages",
                serde_json::json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.1"}]}),
            ),
            (
                "/ig/1784/messages",
                serde_json::json!({"recipient_id": "42", "message_id": "mid.1"}),
            ),
        ];
        for (at, answer) in answers {
            Mock::given(method("POST"))
                .and(path(at))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1)
                .mount(&server)
                .await;
        }
        let base = |at: &str| Url::parse(&format!("{}{at}", server.uri())).unwrap();
        let messengers = Messengers::new(
            test_client(),
            MessagingBases {
                telegram: base("/"),
                whatsapp: base("/wa"),
                instagram: base("/ig"),
            },
        );
        let accounts = [
            ChannelAccount::Telegram {
                bot_token: Secret::new("1:tg"),
            },
            ChannelAccount::WhatsappCloud {
                phone_number_id: "1065".into(),
                access_token: Secret::new("wa"),
            },
            ChannelAccount::Instagram {
                account_id: "1784".into(),
                access_token: Secret::new("ig"),
            },
        ];
        let mut ids = Vec::new();
        for account in &accounts {
            let sent = messengers.send_text(account, "42", "hi").await.unwrap();
            ids.push(sent.provider_message_id);
        }
        assert_eq!(ids, ["42:5", "wamid.1", "mid.1"]);
    }

    #[test]
    fn requests_go_under_the_base_with_each_segment_escaped() {
        let bases = MessagingBases::default();
        assert_eq!(bases.telegram.as_str(), "https://api.telegram.org/");
        let url = endpoint("WhatsApp", &bases.whatsapp, &["1065", "messages"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://graph.facebook.com/v21.0/1065/messages"
        );
        let odd = endpoint("WhatsApp", &bases.whatsapp, &["../me?x", "messages"]).unwrap();
        assert_eq!(
            odd.as_str(),
            "https://graph.facebook.com/v21.0/..%2Fme%3Fx/messages"
        );
    }

    #[tokio::test]
    async fn the_sandbox_answers_every_channel_and_sends_nothing_out() {
        let messengers = Messengers::sandbox();
        assert!(messengers.telegram().is_none());
        let account = ChannelAccount::Telegram {
            bot_token: Secret::new("123:abc"),
        };
        let sent = messengers.send_text(&account, "42", "hello").await.unwrap();
        let Messengers::Sandbox(sandbox) = &messengers else {
            panic!("a sandbox was asked for");
        };
        let recorded = sandbox.sent();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].provider_message_id, sent.provider_message_id);
        assert_eq!(recorded[0].channel, "telegram");
    }
}
