//! An integration's credentials: what a caller gives for each kind, checked; what is sealed
//! in its row (JSON bound to the row's id, so it cannot be moved to another); and the account
//! a send goes out from. No value given here is ever put into a message.

use async_graphql::InputObject;
use serde::{Deserialize, Serialize};

use super::entity::{IntegrationKind, ReceiveMode};
use super::store::Integration;
use crate::error::{AppError, AppResult};
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
}

/// Says the kind and nothing else.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Credentials::Telegram { .. } => "telegram",
            Credentials::WhatsappCloud { .. } => "whatsapp_cloud",
            Credentials::Instagram { .. } => "instagram",
            Credentials::Sandbox => "sandbox",
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

/// Exactly the input of `kind`, checked.
pub fn given(
    kind: IntegrationKind,
    telegram: Option<TelegramInput>,
    whatsapp_cloud: Option<WhatsappCloudInput>,
    instagram: Option<InstagramInput>,
) -> AppResult<Given> {
    let others = match kind {
        IntegrationKind::Telegram => whatsapp_cloud.is_some() || instagram.is_some(),
        IntegrationKind::WhatsappCloud => telegram.is_some() || instagram.is_some(),
        IntegrationKind::Instagram => telegram.is_some() || whatsapp_cloud.is_some(),
        IntegrationKind::Sandbox => {
            telegram.is_some() || whatsapp_cloud.is_some() || instagram.is_some()
        }
    };
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

    /// The account sends go out from.
    pub fn account(&self) -> ChannelAccount {
        match self {
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
        }
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
