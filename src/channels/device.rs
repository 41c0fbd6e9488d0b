//! WhatsApp devices: phones paired to a WAHA session. Connecting names the session after the
//! integration and keys its webhook; the session's status, as WAHA reports it, is the
//! integration's state (lifecycle::session_changed); the QR code or the pairing code is asked
//! of WAHA while the session waits to be paired. Under `--sandbox` a pretend WAHA shows a
//! made-up QR code and pairs the session a few seconds later, by a durable job.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

use super::credentials::Credentials;
use super::entity::{IntegrationKind, SessionStatus};
use super::lifecycle;
use super::store::{self, Integration};
use crate::auth::{Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::jobs::{ClaimedJob, JobFailure, JobHandler, NewJob};
use crate::providers::messaging::waha::{self, WahaAccount, WahaApi};
use crate::services::Services;

/// The kind of the job that pairs a sandbox device.
pub const SANDBOX_PAIR_JOB: &str = "channels.sandbox_pair";

/// The WAHA server a device connected under `--sandbox` is said to have, when it names
/// none: nothing is ever sent there (the sandbox messenger records the sends).
pub const SANDBOX_BASE: &str = "http://waha.sandbox.invalid";

/// How long the sandbox's pretend phone takes to scan the QR code.
const SANDBOX_PAIR_DELAY: Duration = Duration::from_secs(3);

/// The WAHA session of the integration `integration_id`: one per integration, so a
/// reconnect finds its own again.
pub fn session_name(integration_id: &str) -> String {
    format!("switchboard_{}", integration_id.replace('-', ""))
}

/// A fresh key for WAHA to sign the session's webhooks with.
pub fn hmac_key() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

/// Where WAHA posts the session's events.
pub fn webhook_url(s: &Services, integration_id: &str) -> String {
    format!(
        "{}/webhooks/waha/{integration_id}",
        s.config.public_base_url.as_str().trim_end_matches('/')
    )
}

/// The WAHA client and the device's account on it; `None` under `--sandbox`.
fn live<'s>(
    s: &'s Services,
    credentials: &Credentials,
) -> AppResult<Option<(&'s WahaApi, WahaAccount)>> {
    let Some(api) = s.providers.messengers.waha() else {
        return Ok(None);
    };
    let account = credentials
        .waha(&s.config.channels)?
        .ok_or_else(|| AppError::internal("a WhatsApp device without its WAHA"))?;
    Ok(Some((api, account)))
}

/// Has WAHA create and start the session with our webhook (STARTING first, so that a
/// SCAN_QR_CODE WAHA posts at once is not overwritten); the sandbox shows its QR code at
/// once and pairs a few seconds later.
pub async fn start_session(
    s: &Services,
    integration: &Integration,
    credentials: &Credentials,
) -> AppResult<()> {
    let Credentials::WhatsappDevice { hmac_key, .. } = credentials else {
        return Err(AppError::internal(
            "a WhatsApp device without its credentials",
        ));
    };
    let Some((api, account)) = live(s, credentials)? else {
        tracing::warn!(integration = %integration.id, "sandbox WAHA: simulated session, pretend QR code; the device pairs in {}s and nothing reaches WhatsApp", SANDBOX_PAIR_DELAY.as_secs());
        lifecycle::session_changed(s, integration, SessionStatus::ScanQrCode, None).await?;
        let job =
            NewJob::new(SANDBOX_PAIR_JOB, SandboxPair::of(integration))?.delay(SANDBOX_PAIR_DELAY);
        s.jobs.enqueue(job).await?;
        return Ok(());
    };
    lifecycle::session_changed(s, integration, SessionStatus::Starting, None).await?;
    let key = crate::providers::messaging::Secret::new(hmac_key.as_str());
    api.create_session(&account, &webhook_url(s, &integration.id), &key)
        .await?;
    api.start_session(&account).await?;
    tracing::info!(integration = %integration.id, session = %account.session, "WAHA session started");
    Ok(())
}

/// Best effort: WAHA stops and removes the session, unlinking the phone. A failure is
/// logged; a disconnected device's webhooks are acknowledged and dropped anyway.
pub async fn stop_session(s: &Services, integration: &Integration, credentials: &Credentials) {
    let stopped = match live(s, credentials) {
        Ok(Some((api, account))) => api.delete_session(&account).await.map_err(AppError::from),
        Ok(None) => Ok(()),
        Err(err) => Err(err),
    };
    if let Err(err) = stopped {
        tracing::warn!(integration = %integration.id, error = %err.message(), "could not remove the WAHA session");
    }
}

/// WAHA reported the session's status: the integration follows it. Once WORKING, the
/// account's JID is asked of WAHA (`/me`), or taken from the event's envelope.
pub async fn status_reported(
    s: &Services,
    integration: &Integration,
    credentials: &Credentials,
    status: SessionStatus,
    envelope_me: Option<String>,
) -> AppResult<()> {
    let mut jid = None;
    if status == SessionStatus::Working {
        if let Some((api, account)) = live(s, credentials)? {
            jid = match api.me(&account).await {
                Ok(me) => Some(me.id),
                Err(err) => {
                    tracing::warn!(integration = %integration.id, error = %err.describe(), "could not read the paired account from WAHA; using the event's");
                    envelope_me
                }
            };
        }
    }
    if let Some(jid) = &jid {
        tracing::info!(integration = %integration.id, jid = %jid, "WhatsApp device paired");
    }
    lifecycle::session_changed(s, integration, status, jid).await?;
    Ok(())
}

/// A device of the viewer's organisation, for an admin, with its credentials.
async fn admin_device(
    s: &Services,
    viewer: &Viewer,
    integration_id: &str,
) -> AppResult<(Integration, Credentials)> {
    viewer.require(Role::Admin)?;
    let found = store::get(&s.db, viewer, integration_id).await?;
    if found.kind != IntegrationKind::WhatsappDevice {
        return Err(AppError::BadInput(
            "only a WHATSAPP_DEVICE integration is paired by QR or pairing code".into(),
        ));
    }
    if found.session_status != Some(SessionStatus::ScanQrCode) {
        let status = found.session_status.map_or("not started", |s| s.as_str());
        return Err(AppError::Conflict(format!(
            "the device's session is {status}: it is paired only while SCAN_QR_CODE"
        )));
    }
    let credentials = Credentials::open(s, &found)?;
    Ok((found, credentials))
}

/// The QR code to scan with the phone (WhatsApp → Linked devices), as a PNG data URL.
pub async fn qr(s: &Services, viewer: &Viewer, integration_id: &str) -> AppResult<String> {
    let (_, credentials) = admin_device(s, viewer, integration_id).await?;
    let png = match live(s, &credentials)? {
        Some((api, account)) => api.qr_png(&account).await?,
        None => waha::sandbox_qr_png(),
    };
    Ok(waha::png_data_url(&png))
}

/// The code to type on the phone whose number is `phone_number`, instead of scanning.
pub async fn pairing_code(
    s: &Services,
    viewer: &Viewer,
    integration_id: &str,
    phone_number: &str,
) -> AppResult<String> {
    let phone = phone_digits(phone_number).ok_or_else(|| {
        AppError::BadInput("phoneNumber must be a phone number in international form".into())
    })?;
    let (_, credentials) = admin_device(s, viewer, integration_id).await?;
    match live(s, &credentials)? {
        Some((api, account)) => Ok(api.request_code(&account, &phone).await?),
        None => {
            let code = Alphanumeric
                .sample_string(&mut rand::rng(), 8)
                .to_uppercase();
            Ok(format!("{}-{}", &code[..4], &code[4..]))
        }
    }
}

/// A phone number's digits as WhatsApp takes them (E.164 without the +): 7 to 15 digits, not
/// starting with 0; spaces, dashes, dots and brackets are dropped.
pub fn phone_digits(raw: &str) -> Option<String> {
    let value = raw.trim();
    let digits: String = value
        .strip_prefix('+')
        .unwrap_or(value)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let valid = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(digits)
}

/// The sandbox device to pair.
#[derive(Serialize, Deserialize)]
struct SandboxPair {
    integration_id: String,
}

impl SandboxPair {
    fn of(integration: &Integration) -> Self {
        Self {
            integration_id: integration.id.clone(),
        }
    }
}

/// Pairs a sandbox device still waiting for its QR code to be scanned, with a made-up JID.
pub struct SandboxPairHandler {
    services: Services,
}

impl SandboxPairHandler {
    pub fn handler(services: Services) -> Arc<dyn JobHandler> {
        Arc::new(Self { services })
    }
}

#[async_trait]
impl JobHandler for SandboxPairHandler {
    fn kind(&self) -> &'static str {
        SANDBOX_PAIR_JOB
    }

    async fn run(&self, job: &ClaimedJob) -> Result<(), JobFailure> {
        let s = &self.services;
        let pair: SandboxPair = job.payload()?;
        let found = match store::load(&s.db, &pair.integration_id).await {
            Err(AppError::NotFound(_)) => return Ok(()),
            found => found?,
        };
        if found.session_status != Some(SessionStatus::ScanQrCode) {
            return Ok(());
        }
        // Digits, as a phone's JID has, that differ between devices.
        let digits: String = found
            .id
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(char::from)
            .take(8)
            .collect();
        let jid = format!("1555{digits:0<8}@c.us");
        tracing::warn!(integration = %found.id, jid = %jid, "sandbox WAHA: the pretend phone scanned the QR code");
        lifecycle::session_changed(s, &found, SessionStatus::Working, Some(jid)).await?;
        Ok(())
    }
}
