//! Integrations in the GraphQL API: thin resolvers over `service` and `store`. Credentials
//! go in and never come out.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::credentials::{
    Inputs, InstagramInput, TelegramInput, WhatsappCloudInput, WhatsappDeviceInput,
};
use super::device;
use super::entity::{IntegrationKind, IntegrationState, ReceiveMode, SessionStatus};
use super::service::{self, ConnectInput};
use super::store::{self, Integration as IntegrationRow};
use crate::graphql::context::ContextExt;

#[derive(SimpleObject)]
pub struct Integration {
    pub id: ID,
    pub agent_id: ID,
    pub kind: IntegrationKind,
    pub name: String,
    /// The channel's own id of the account: the bot's id, the phone_number_id, the
    /// Instagram account id, a paired WhatsApp device's JID (its WAHA session's name until
    /// it is paired).
    pub identity: Option<String>,
    pub mode: ReceiveMode,
    pub state: IntegrationState,
    /// A WHATSAPP_DEVICE's WAHA session status (its QR code can be shown while
    /// SCAN_QR_CODE); null for other kinds.
    pub session_status: Option<SessionStatus>,
    /// Why it is in its state: who connected or disconnected it, or what the channel said.
    pub state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<IntegrationRow> for Integration {
    fn from(row: IntegrationRow) -> Self {
        Self {
            id: ID(row.id),
            agent_id: ID(row.agent_id),
            kind: row.kind,
            name: row.name,
            identity: row.identity,
            mode: row.mode,
            state: row.state,
            session_status: row.session_status,
            state_reason: row.state_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(InputObject)]
pub struct ConnectIntegrationInput {
    pub agent_id: ID,
    pub kind: IntegrationKind,
    pub name: String,
    /// For TELEGRAM.
    pub telegram: Option<TelegramInput>,
    /// For WHATSAPP_CLOUD.
    pub whatsapp_cloud: Option<WhatsappCloudInput>,
    /// For INSTAGRAM.
    pub instagram: Option<InstagramInput>,
    /// For WHATSAPP_DEVICE; leave out to use the server's WAHA_BASE_URL and WAHA_API_KEY.
    pub whatsapp_device: Option<WhatsappDeviceInput>,
}

#[derive(Default)]
pub struct ChannelsQuery;

#[Object]
impl ChannelsQuery {
    /// The organisation's integrations (of one agent, when given), oldest first.
    async fn integrations(
        &self,
        ctx: &Context<'_>,
        agent_id: Option<ID>,
    ) -> async_graphql::Result<Vec<Integration>> {
        let rows = store::list(
            ctx.db(),
            ctx.viewer()?,
            agent_id.as_ref().map(|id| id.as_str()),
        )
        .await?;
        Ok(rows.into_iter().map(Integration::from).collect())
    }

    async fn integration(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Integration> {
        Ok(store::get(ctx.db(), ctx.viewer()?, &id).await?.into())
    }

    /// The QR code a WHATSAPP_DEVICE's phone scans (WhatsApp → Linked devices) while its
    /// session is SCAN_QR_CODE, as a PNG data URL; it changes every 20 s or so, each change an
    /// agent event. Admins only.
    async fn integration_qr(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
    ) -> async_graphql::Result<String> {
        Ok(device::qr(ctx.services(), ctx.viewer()?, &integration_id).await?)
    }
}

#[derive(Default)]
pub struct ChannelsMutation;

#[Object]
impl ChannelsMutation {
    /// Binds a Telegram bot, WhatsApp number or Instagram account to an agent, which then
    /// answers its messages. The account is checked with its channel first. A WhatsApp
    /// device starts its WAHA session and stays CONNECTING until its phone is paired
    /// (`integrationQr` or `requestPairingCode`).
    async fn connect_integration(
        &self,
        ctx: &Context<'_>,
        input: ConnectIntegrationInput,
    ) -> async_graphql::Result<Integration> {
        let input = ConnectInput {
            agent_id: input.agent_id.0,
            kind: input.kind,
            name: input.name,
            credentials: Inputs {
                telegram: input.telegram,
                whatsapp_cloud: input.whatsapp_cloud,
                instagram: input.instagram,
                whatsapp_device: input.whatsapp_device,
            },
        };
        Ok(service::connect(ctx.services(), ctx.viewer()?, input)
            .await?
            .into())
    }

    /// Stops receiving and frees the account; the conversations stay.
    async fn disconnect_integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Integration> {
        Ok(service::disconnect(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// Connects the same integration again with its credentials, checked again.
    async fn reconnect_integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Integration> {
        Ok(service::reconnect(ctx.services(), ctx.viewer()?, &id)
            .await?
            .into())
    }

    /// The code to type on the phone (Linked devices → Link with phone number instead)
    /// whose number is `phoneNumber`, while the device's session is SCAN_QR_CODE. Admins only.
    async fn request_pairing_code(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
        phone_number: String,
    ) -> async_graphql::Result<String> {
        let s = ctx.services();
        Ok(device::pairing_code(s, ctx.viewer()?, &integration_id, &phone_number).await?)
    }
}
