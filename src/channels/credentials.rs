//! An integration's credentials: what a caller gives for each kind, checked; what is sealed
//! in its row (JSON bound to the row's id, so it cannot be moved to another); and the account
//! a send goes out from. No value given here is ever put into a message.

use async_graphql::InputObject;
use serde::{Deserialize, Serialize};

use super::config::ChannelsConfig;
use super::entity::{IntegrationKind, ReceiveMode};
use super::store::Integration;
use crate::error::{AppError, AppResult};
use crate::providers::messaging::waha::WahaAccount;
use crate::providers::messaging::{ChannelAccount, Secret};
use crate::secrets::place;
use crate::services::Services;

#[derive(InputObject)]
#[graphql(name = "TelegramCredentialsInput")]
pub struct TelegramInput {
    /// From @BotFather; write-only.
    #[graphql(secret)]
    pub bot_token: String,
    /// WEBHOOK or POLLING; by default WEBHOOK when PUBLIC_BASE_URL is https, else POLLING.
    pub mode: Option<ReceiveMode>,
}

#[derive(InputObject)]
#[graphql(name = "WhatsappCloudCredentialsInput")]
pub struct WhatsappCloudInput {
    pub phone_number_id: String,
    #[graphql(secret)]
    pub access_token: String,
    /// The Meta app's secret, which signs its webhooks.
    #[graphql(secret)]
    pub app_secret: String,
    /// The token Meta's webhook handshake must bring.
    #[graphql(secret)]
    pub verify_token: String,
}

#[derive(InputObject)]
#[graphql(name = "InstagramCredentialsInput")]
pub struct InstagramInput {
    pub account_id: String,
    #[graphql(secret)]
    pub access_token: String,
    /// Leave out to use the server's INSTAGRAM_APP_SECRET.
    #[graphql(secret)]
    pub app_secret: Option<String>,
    /// Leave out to use the server's INSTAGRAM_VERIFY_TOKEN.
    #[graphql(secret)]
    pub verify_token: Option<String>,
}

#[derive(InputObject, Default)]
#[graphql(name = "WhatsappDeviceCredentialsInput")]
pub struct WhatsappDeviceInput {
    /// The WAHA server the phone pairs through; leave out to use the server's WAHA_BASE_URL.
    pub waha_base_url: Option<String>,
    /// Its API key (X-Api-Key); leave out to use the server's WAHA_API_KEY.
    #[graphql(secret)]
    pub waha_api_key: Option<String>,
}

/// What is sealed in the row.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    Telegram {
        bot_token: String,
        /// What Telegram must send in X-Telegram-Bot-Api-Secret-Token (webhook mode).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_token: Option<String>,
    },
    WhatsappCloud {
        phone_number_id: String,
        access_token: String,
        app_secret: String,
        verify_token: String,
    },
    Instagram {
        account_id: String,
        access_token: String,
        #[serde(default)]
        app_secret: Option<String>,
        #[serde(default)]
        verify_token: Option<String>,
    },
    Sandbox,
    WhatsappDevice {
        /// None: the server's WAHA_BASE_URL.
        #[serde(default)]
        base_url: Option<String>,
        /// None: the server's WAHA_API_KEY.
        #[serde(default)]
        api_key: Option<String>,
        /// The WAHA session's name.
        session: String,
        /// What WAHA signs its webhooks with (HMAC-SHA512).
        hmac_key: String,
    },
}

/// Says the kind and nothing else.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Credentials::Telegram { .. } => "telegram",
            Credentials::WhatsappCloud { .. } => "whatsapp_cloud",
            Credentials::Instagram { .. } => "instagram",
            Credentials::Sandbox => "sandbox",
            Credentials::WhatsappDevice { .. } => "whatsapp_device",
        };
        write!(f, "Credentials({kind}, ***)")
    }
}

/// The credentials a caller gave, checked, with what they say without asking the channel.
pub struct Given {
    pub credentials: Credentials,
    /// The account's id when the credentials name it (Meta's); Telegram's comes from getMe.
    pub identity: Option<String>,
    pub mode: Option<ReceiveMode>,
}

fn value(field: &str, given: &str) -> AppResult<String> {
    crate::input::line(field, given, 500)
}

fn optional(field: &str, given: Option<String>) -> AppResult<Option<String>> {
    given
        .filter(|v| !v.trim().is_empty())
        .map(|v| value(field, &v))
        .transpose()
}

/// A Telegram bot token is `<bot id>:<secret>`; the bot id is the token's part before `:`.
pub fn bot_id(token: &str) -> Option<&str> {
    let (id, secret) = token.split_once(':')?;
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let secret_ok = !secret.is_empty()
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (id_ok && secret_ok).then_some(id)
}

fn missing(kind: IntegrationKind, field: &str) -> AppError {
    AppError::BadInput(format!(
        "a {} integration needs its {field} credentials",
        kind.channel()
    ))
}

/// A WAHA server's address as given: http(s) with a host.
fn waha_base(field: &str, given: &str) -> AppResult<String> {
    let base = value(field, given)?;
    match url::Url::parse(&base) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(base),
        _ => Err(AppError::BadInput(format!(
            "{field} must be an http(s) URL with a host"
        ))),
    }
}

/// The credentials a caller may give: one input per kind that takes any.
pub struct Inputs {
    pub telegram: Option<TelegramInput>,
    pub whatsapp_cloud: Option<WhatsappCloudInput>,
    pub instagram: Option<InstagramInput>,
    pub whatsapp_device: Option<WhatsappDeviceInput>,
}

/// Exactly the input of `kind`, checked.
pub fn given(kind: IntegrationKind, inputs: Inputs) -> AppResult<Given> {
    let Inputs {
        telegram,
        whatsapp_cloud,
        instagram,
        whatsapp_device,
    } = inputs;
    let others = [
        (IntegrationKind::Telegram, telegram.is_some()),
        (IntegrationKind::WhatsappCloud, whatsapp_cloud.is_some()),
        (IntegrationKind::Instagram, instagram.is_some()),
        (IntegrationKind::WhatsappDevice, whatsapp_device.is_some()),
    ]
    .into_iter()
    .any(|(of, given)| given && of != kind);
    if others {
        return Err(AppError::BadInput(format!(
            "give only the credentials of the integration's kind ({})",
            kind.channel()
        )));
    }
    match kind {
        IntegrationKind::Telegram => {
            let input = telegram.ok_or_else(|| missing(kind, "telegram"))?;
            let bot_token = input.bot_token.trim().to_string();
            if bot_id(&bot_token).is_none() {
                return Err(AppError::BadInput(
                    "telegram.botToken is not a Telegram bot token (<bot id>:<secret>, from @BotFather)".into(),
                ));
            }
            if input.mode == Some(ReceiveMode::Sandbox) {
                return Err(AppError::BadInput(
                    "telegram.mode must be WEBHOOK or POLLING".into(),
                ));
            }
            Ok(Given {
                credentials: Credentials::Telegram {
                    bot_token,
                    secret_token: None,
                },
                identity: None,
                mode: input.mode,
            })
        }
        IntegrationKind::WhatsappCloud => {
            let input = whatsapp_cloud.ok_or_else(|| missing(kind, "whatsappCloud"))?;
            let phone_number_id = value("whatsappCloud.phoneNumberId", &input.phone_number_id)?;
            Ok(Given {
                identity: Some(phone_number_id.clone()),
                credentials: Credentials::WhatsappCloud {
                    phone_number_id,
                    access_token: value("whatsappCloud.accessToken", &input.access_token)?,
                    app_secret: value("whatsappCloud.appSecret", &input.app_secret)?,
                    verify_token: value("whatsappCloud.verifyToken", &input.verify_token)?,
                },
                mode: Some(ReceiveMode::Webhook),
            })
        }
        IntegrationKind::Instagram => {
            let input = instagram.ok_or_else(|| missing(kind, "instagram"))?;
            let account_id = value("instagram.accountId", &input.account_id)?;
            Ok(Given {
                identity: Some(account_id.clone()),
                credentials: Credentials::Instagram {
                    account_id,
                    access_token: value("instagram.accessToken", &input.access_token)?,
                    app_secret: optional("instagram.appSecret", input.app_secret)?,
                    verify_token: optional("instagram.verifyToken", input.verify_token)?,
                },
                mode: Some(ReceiveMode::Webhook),
            })
        }
        IntegrationKind::Sandbox => Ok(Given {
            credentials: Credentials::Sandbox,
            identity: None,
            mode: Some(ReceiveMode::Sandbox),
        }),
        IntegrationKind::WhatsappDevice => {
            let input = whatsapp_device.unwrap_or_default();
            let base_url = match input.waha_base_url.filter(|v| !v.trim().is_empty()) {
                Some(given) => Some(waha_base("whatsappDevice.wahaBaseUrl", &given)?),
                None => None,
            };
            Ok(Given {
                credentials: Credentials::WhatsappDevice {
                    base_url,
                    api_key: optional("whatsappDevice.wahaApiKey", input.waha_api_key)?,
                    // Named and keyed by `connect`, which knows the integration's id.
                    session: String::new(),
                    hmac_key: String::new(),
                },
                identity: None,
                mode: Some(ReceiveMode::Webhook),
            })
        }
    }
}

fn credentials_place(integration_id: &str) -> String {
    place("integrations", "credentials", integration_id)
}

impl Credentials {
    pub fn seal(&self, s: &Services, integration_id: &str) -> AppResult<String> {
        let json = serde_json::to_string(self)
            .map(crate::secrets::Secret::new)
            .map_err(|_| AppError::internal("credentials do not serialize"))?;
        Ok(s.secrets
            .seal(json.expose(), &credentials_place(integration_id)))
    }

    pub fn open(s: &Services, integration: &Integration) -> AppResult<Self> {
        let json = s.secrets.open(
            &integration.credentials,
            &credentials_place(&integration.id),
        )?;
        // The parser's error could quote the JSON, so it is not kept.
        serde_json::from_str(json.expose()).map_err(|_| {
            AppError::internal(format!(
                "integration {}: sealed credentials do not read",
                integration.id
            ))
        })
    }

    /// The WAHA server and session of a WhatsApp device (none for other kinds), the
    /// server's settings filling in what the integration has not its own; NOT_CONFIGURED
    /// with neither.
    pub fn waha(&self, config: &ChannelsConfig) -> AppResult<Option<WahaAccount>> {
        let Credentials::WhatsappDevice {
            base_url,
            api_key,
            session,
            ..
        } = self
        else {
            return Ok(None);
        };
        let base = match base_url {
            Some(own) => url::Url::parse(own)
                .map_err(|_| AppError::internal("a stored WAHA URL does not parse"))?,
            None => config.waha_base_url.clone().ok_or_else(|| {
                AppError::NotConfigured(
                    "WhatsApp devices pair through a WAHA server: set WAHA_BASE_URL, or give whatsappDevice.wahaBaseUrl".into(),
                )
            })?,
        };
        let api_key = api_key.as_deref().or(config.waha_api_key());
        Ok(Some(WahaAccount {
            base,
            api_key: api_key.map(Secret::new),
            session: session.clone(),
        }))
    }

    /// The account sends go out from.
    pub fn account(&self, config: &ChannelsConfig) -> AppResult<ChannelAccount> {
        Ok(match self {
            Credentials::Telegram { bot_token, .. } => ChannelAccount::Telegram {
                bot_token: Secret::new(bot_token.as_str()),
            },
            Credentials::WhatsappCloud {
                phone_number_id,
                access_token,
                ..
            } => ChannelAccount::WhatsappCloud {
                phone_number_id: phone_number_id.clone(),
                access_token: Secret::new(access_token.as_str()),
            },
            Credentials::Instagram {
                account_id,
                access_token,
                ..
            } => ChannelAccount::Instagram {
                account_id: account_id.clone(),
                access_token: Secret::new(access_token.as_str()),
            },
            Credentials::Sandbox => ChannelAccount::Sandbox,
            Credentials::WhatsappDevice { .. } => match self.waha(config)? {
                Some(device) => ChannelAccount::WhatsappDevice(device),
                None => return Err(AppError::internal("a WhatsApp device without its WAHA")),
            },
        })
    }

    pub fn bot_token(&self) -> Option<Secret> {
        match self {
            Credentials::Telegram { bot_token, .. } => Some(Secret::new(bot_token.as_str())),
            _ => None,
        }
    }

    /// The Meta app secret that signs this account's webhooks; `fallback` is the server's.
    pub fn app_secret<'a>(&'a self, fallback: Option<&'a str>) -> Option<&'a str> {
        match self {
            Credentials::WhatsappCloud { app_secret, .. } => Some(app_secret),
            Credentials::Instagram { app_secret, .. } => app_secret.as_deref().or(fallback),
            _ => None,
        }
    }

    /// The token Meta's webhook handshake brings for this account; `fallback` is the server's.
    pub fn verify_token<'a>(&'a self, fallback: Option<&'a str>) -> Option<&'a str> {
        match self {
            Credentials::WhatsappCloud { verify_token, .. } => Some(verify_token),
            Credentials::Instagram { verify_token, .. } => verify_token.as_deref().or(fallback),
            _ => None,
        }
    }
}
