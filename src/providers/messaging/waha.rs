//! WAHA (WhatsApp HTTP API, devlikeapro/waha): a self-hosted server that pairs WhatsApp
//! phones as linked devices, one session each. A session is created with our webhook (signed
//! with an HMAC key we choose) and started; the phone scans its QR code (or enters a pairing
//! code); its `session.status` events say when it is WORKING, and `message` events bring
//! what customers write. Every call carries the server's key in `X-Api-Key`.

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sha2::Sha512;
use url::Url;

use super::{
    endpoint, exchange, id_text, unexpected, unexplained, unix_secs, InboundMessage, ProviderError,
    Secret, SentMessage,
};

const SERVICE: &str = "WAHA";

/// The events a session's webhook asks for.
pub const EVENTS: [&str; 2] = ["message", "session.status"];

/// The server and session one WhatsApp device lives in, with the key that opens the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WahaAccount {
    pub base: Url,
    pub api_key: Option<Secret>,
    pub session: String,
}

#[derive(Debug, Clone)]
pub struct WahaApi {
    pub client: Client,
}

/// Who a paired session is (`GET /api/sessions/{name}/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The account's JID, `<digits>@c.us`.
    pub id: String,
    pub push_name: Option<String>,
}

/// What one webhook call of WAHA says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The session's new status, by WAHA's name (STARTING, SCAN_QR_CODE, WORKING, ...), and
    /// the account's JID when the envelope names it (`me.id`).
    Status {
        session: String,
        status: String,
        me: Option<String>,
    },
    /// A message someone wrote to the session's account, or why it is none to answer.
    Message {
        session: String,
        message: Result<InboundMessage, Skipped>,
    },
    /// An event we did not ask for.
    Other { session: String },
}

/// Why a `message` event holds nothing to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Our own message, sent from the phone or by us (`fromMe`).
    Echo,
    /// Written in a group, a status update or a broadcast or newsletter channel.
    NotDirect,
    /// Media without a caption, or a message missing its ids.
    NoText,
}

impl Skipped {
    pub fn reason(self) -> &'static str {
        match self {
            Skipped::Echo => "our own message",
            Skipped::NotDirect => "not a direct chat",
            Skipped::NoText => "no text to answer",
        }
    }
}

impl Event {
    pub fn session(&self) -> &str {
        match self {
            Event::Status { session, .. }
            | Event::Message { session, .. }
            | Event::Other { session } => session,
        }
    }
}

impl WahaApi {
    /// Creates the session with our webhook, not started yet; a session of that name that is
    /// already there (a reconnect) gets the webhook instead.
    pub async fn create_session(
        &self,
        account: &WahaAccount,
        webhook_url: &str,
        hmac_key: &Secret,
    ) -> Result<(), ProviderError> {
        let config = json!({"webhooks": [{
            "url": webhook_url,
            "events": EVENTS,
            "hmac": {"key": hmac_key.expose()},
        }]});
        let body = json!({"name": account.session, "start": false, "config": config});
        let created = self
            .call(account, Method::POST, &["api", "sessions"], Some(&body))
            .await;
        match created {
            // WAHA says a name it has with 422 ("Session already exists"); older ones 409.
            Err(err) if matches!(err.status, Some(409 | 422)) => {
                let body = json!({"config": config});
                let at = ["api", "sessions", account.session.as_str()];
                self.call(account, Method::PUT, &at, Some(&body)).await?;
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Starts the session; one already started stays so.
    pub async fn start_session(&self, account: &WahaAccount) -> Result<(), ProviderError> {
        let at = ["api", "sessions", account.session.as_str(), "start"];
        match self.call(account, Method::POST, &at, None).await {
            Err(err) if err.status == Some(422) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Stops and removes the session, unlinking the phone.
    pub async fn delete_session(&self, account: &WahaAccount) -> Result<(), ProviderError> {
        let at = ["api", "sessions", account.session.as_str()];
        match self.call(account, Method::DELETE, &at, None).await {
            Err(err) if err.status == Some(404) => Ok(()),
            other => other.map(drop),
        }
    }

    /// The paired account, once the session is WORKING.
    pub async fn me(&self, account: &WahaAccount) -> Result<Me, ProviderError> {
        let at = ["api", "sessions", account.session.as_str(), "me"];
        let me = self.call(account, Method::GET, &at, None).await?;
        Ok(Me {
            id: id_text(&me["id"]).ok_or_else(|| unexpected(SERVICE))?,
            push_name: me["pushName"].as_str().map(str::to_string),
        })
    }

    /// The QR code to scan, as PNG bytes: WAHA answers the image itself, or (asked for JSON
    /// by a proxy in between) `{mimetype, data}` with the image in base64.
    pub async fn qr_png(&self, account: &WahaAccount) -> Result<Vec<u8>, ProviderError> {
        let at = ["api", account.session.as_str(), "auth", "qr"];
        let mut url = endpoint(SERVICE, &account.base, &at)?;
        url.query_pairs_mut().append_pair("format", "image");
        let request = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "image/png");
        let (status, body) = self.exchange(account, request).await?;
        if !status.is_success() {
            return Err(scrubbed(account, unexplained(SERVICE, status, &body)));
        }
        if is_png(&body) {
            return Ok(body);
        }
        let answer: Value = crate::input::provider_json(&body).map_err(|_| unexpected(SERVICE))?;
        answer["data"]
            .as_str()
            .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .filter(|png| is_png(png))
            .ok_or_else(|| unexpected(SERVICE))
    }

    /// Asks for the code a person types on the phone (Linked devices → Link with phone
    /// number) instead of scanning the QR code.
    pub async fn request_code(
        &self,
        account: &WahaAccount,
        phone_number: &str,
    ) -> Result<String, ProviderError> {
        let at = ["api", account.session.as_str(), "auth", "request-code"];
        let body = json!({"phoneNumber": phone_number});
        let answer = self.call(account, Method::POST, &at, Some(&body)).await?;
        answer["code"]
            .as_str()
            .filter(|code| !code.is_empty())
            .map(str::to_string)
            .ok_or_else(|| unexpected(SERVICE))
    }

    /// Sends `text` to the chat `chat_id` (`<digits>@c.us`) from the session's account.
    pub async fn send_text(
        &self,
        account: &WahaAccount,
        chat_id: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let body = json!({"session": account.session, "chatId": chat_id, "text": text});
        let sent = self
            .call(account, Method::POST, &["api", "sendText"], Some(&body))
            .await?;
        // WEBJS answers the message's id as a string, some engines as `{_serialized}` or
        // under `key.id`.
        let id = id_text(&sent["id"])
            .or_else(|| id_text(&sent["id"]["_serialized"]))
            .or_else(|| id_text(&sent["key"]["id"]))
            .ok_or_else(|| unexpected(SERVICE))?;
        Ok(SentMessage {
            provider_message_id: id,
        })
    }

    async fn exchange(
        &self,
        account: &WahaAccount,
        mut request: RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        if let Some(key) = &account.api_key {
            request = request.header("X-Api-Key", key.expose());
        }
        exchange(SERVICE, request)
            .await
            .map_err(|err| scrubbed(account, err))
    }

    /// A JSON call; an empty success is `null`.
    async fn call(
        &self,
        account: &WahaAccount,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let url = endpoint(SERVICE, &account.base, segments)?;
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, answer) = self.exchange(account, request).await?;
        if !status.is_success() {
            return Err(scrubbed(account, unexplained(SERVICE, status, &answer)));
        }
        if answer.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        crate::input::provider_json(&answer).map_err(|_| unexpected(SERVICE))
    }
}

fn scrubbed(account: &WahaAccount, err: ProviderError) -> ProviderError {
    match &account.api_key {
        Some(key) => key.scrub(err),
        None => err,
    }
}

fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// `bytes` of a PNG as a data URL, which an `<img src>` shows as is.
pub fn png_data_url(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// Whether `signature` (`X-Webhook-Hmac`, hex) is the HMAC-SHA512 of the raw `body` under
/// `key`, checked in constant time; WAHA names its algorithm in `X-Webhook-Hmac-Algorithm`,
/// and one other than sha512 is refused. No key accepts nothing.
pub fn verify_hmac(key: &str, body: &[u8], signature: &str, algorithm: Option<&str>) -> bool {
    if key.is_empty() || algorithm.is_some_and(|a| !a.eq_ignore_ascii_case("sha512")) {
        return false;
    }
    let Ok(signature) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// A webhook call's event; `None` when the body is no WAHA event (no `event` or `session`).
pub fn parse_event(body: &[u8]) -> Option<Event> {
    let event: Value = crate::input::provider_json(body).ok()?;
    let session = event["session"].as_str()?.to_string();
    let payload = &event["payload"];
    Some(match event["event"].as_str()? {
        "session.status" => Event::Status {
            session,
            status: payload["status"].as_str()?.to_string(),
            me: id_text(&event["me"]["id"]),
        },
        "message" => Event::Message {
            session,
            message: message(payload),
        },
        _ => Event::Other { session },
    })
}

/// Whether a chat id is a person's: not a group (`@g.us`), status updates
/// (`status@broadcast`), a broadcast list or a newsletter channel.
fn is_direct(chat_id: &str) -> bool {
    !(chat_id.ends_with("@g.us")
        || chat_id.ends_with("@broadcast")
        || chat_id.ends_with("@newsletter"))
}

fn message(payload: &Value) -> Result<InboundMessage, Skipped> {
    if payload["fromMe"].as_bool() == Some(true) {
        return Err(Skipped::Echo);
    }
    let from = id_text(&payload["from"]).ok_or(Skipped::NoText)?;
    if !is_direct(&from) {
        return Err(Skipped::NotDirect);
    }
    let text = payload["body"]
        .as_str()
        .filter(|text| !text.trim().is_empty())
        .ok_or(Skipped::NoText)?;
    let id = id_text(&payload["id"])
        .or_else(|| id_text(&payload["id"]["_serialized"]))
        .ok_or(Skipped::NoText)?;
    // WEBJS says the sender's name in `notifyName`, NOWEB and GOWS in `pushName`.
    let data = &payload["_data"];
    let name = [
        &data["notifyName"],
        &data["pushName"],
        &data["Info"]["PushName"],
    ]
    .into_iter()
    .find_map(|name| name.as_str().filter(|n| !n.is_empty()))
    .map(str::to_string);
    Ok(InboundMessage {
        provider_message_id: id,
        remote_user_id: from.clone(),
        remote_user_name: name,
        chat_id: from,
        text: text.to_string(),
        sent_at: unix_secs(&payload["timestamp"]),
    })
}

/// A small PNG for the sandbox's pretend QR code: a black-and-white 21×21 pattern (a QR
/// code's size) scaled up, encoded with the `image` crate.
pub fn sandbox_qr_png() -> Vec<u8> {
    const MODULES: u32 = 21;
    const SCALE: u32 = 8;
    let finder = |x: u32, y: u32| {
        let corner = |cx: u32, cy: u32| {
            let (dx, dy) = (x.wrapping_sub(cx), y.wrapping_sub(cy));
            (dx < 7 && dy < 7).then(|| {
                dx == 0
                    || dy == 0
                    || dx == 6
                    || dy == 6
                    || (2..5).contains(&dx) && (2..5).contains(&dy)
            })
        };
        corner(0, 0)
            .or_else(|| corner(MODULES - 7, 0))
            .or_else(|| corner(0, MODULES - 7))
    };
    let size = MODULES * SCALE;
    let image = image::GrayImage::from_fn(size, size, |px, py| {
        let (x, y) = (px / SCALE, py / SCALE);
        let dark = finder(x, y).unwrap_or((x * 7 + y * 13) % 3 == 0);
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("a PNG encodes into memory");
    png.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn the_hmac_is_sha512_of_the_raw_body_under_the_key() {
        let body = br#"{"event":"message"}"#;
        let good = sign("k3y", body);
        assert!(verify_hmac("k3y", body, &good, Some("sha512")));
        assert!(verify_hmac("k3y", body, &good, None));
        assert!(!verify_hmac("k3y", body, &good, Some("sha256")));
        assert!(!verify_hmac("other", body, &good, Some("sha512")));
        assert!(!verify_hmac("k3y", b"{}", &good, Some("sha512")));
        assert!(!verify_hmac("", body, &sign("", body), None));
        assert!(!verify_hmac("k3y", body, "zz", None));
    }

    #[test]
    fn a_direct_text_is_a_message_and_groups_statuses_and_echoes_are_skipped() {
        let event = |payload: Value| {
            let body = json!({"event": "message", "session": "s1", "payload": payload});
            match parse_event(body.to_string().as_bytes()) {
                Some(Event::Message { message, .. }) => message,
                other => panic!("{other:?}"),
            }
        };
        let text = event(
            json!({"id": "false_79001234567@c.us_3EB0", "timestamp": 1749416383,
            "from": "79001234567@c.us", "fromMe": false, "body": "Hi", "hasMedia": false,
            "_data": {"notifyName": "Ana"}}),
        )
        .unwrap();
        assert_eq!(text.remote_user_id, "79001234567@c.us");
        assert_eq!(text.chat_id, "79001234567@c.us");
        assert_eq!(text.remote_user_name.as_deref(), Some("Ana"));
        assert_eq!(text.provider_message_id, "false_79001234567@c.us_3EB0");
        let skipped = |from: &str, from_me: bool, body: &str| {
            event(json!({"id": "x", "from": from, "fromMe": from_me, "body": body})).unwrap_err()
        };
        assert_eq!(skipped("1203@g.us", false, "Hi all"), Skipped::NotDirect);
        assert_eq!(
            skipped("status@broadcast", false, "Look"),
            Skipped::NotDirect
        );
        assert_eq!(skipped("79001234567@c.us", true, "Sent"), Skipped::Echo);
        assert_eq!(skipped("79001234567@c.us", false, " "), Skipped::NoText);
    }

    #[test]
    fn a_status_event_says_the_status_and_the_account() {
        let body = json!({"event": "session.status", "session": "s1",
            "me": {"id": "79001234567@c.us", "pushName": "Shop"},
            "payload": {"status": "WORKING"}});
        assert_eq!(
            parse_event(body.to_string().as_bytes()),
            Some(Event::Status {
                session: "s1".into(),
                status: "WORKING".into(),
                me: Some("79001234567@c.us".into()),
            })
        );
        assert_eq!(parse_event(b"not json"), None);
        assert_eq!(parse_event(br#"{"event": "message"}"#), None);
    }

    #[test]
    fn the_sandbox_qr_is_a_png() {
        let png = sandbox_qr_png();
        assert!(is_png(&png));
        assert!(png_data_url(&png).starts_with("data:image/png;base64,iVBORw0KGgo"));
    }
}
