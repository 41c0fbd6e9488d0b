//! Meta's two channels, which share the Graph API's shape: the WhatsApp Cloud API and
//! Instagram Messaging. Both sign their webhooks with the app secret
//! (`X-Hub-Signature-256`), confirm a webhook URL with the `hub.challenge` handshake, and
//! explain a failure as `{"error": {"code", "message", "error_data": {"details"}}}`, whose
//! code (not the HTTP status, mostly 400) tells a rate limit from a lost recipient.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::DateTime;
use hmac::{Hmac, Mac};
use reqwest::{Client, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use url::Url;

use super::{
    endpoint, exchange, id_text, list, same_secret, unexpected, unexplained, unix_secs, Delivery,
    DeliveryUpdate, InboundMessage, ProviderError, Secret, SentMessage,
};

const WHATSAPP: &str = "WhatsApp";
const INSTAGRAM: &str = "Instagram";

pub const WHATSAPP_DEFAULT_BASE: &str = "https://graph.facebook.com/v21.0";
pub const INSTAGRAM_DEFAULT_BASE: &str = "https://graph.instagram.com/v21.0";

/// Graph error codes that mean "slow down", with how long to wait, since Meta sends no
/// Retry-After: WhatsApp's per-number throughput (130429, about 80 messages a second), its
/// per-recipient pace (131056, about one message every 6 seconds) and account limit (80007);
/// the Graph API's call limits per app (4), per page (32) and per method (613), which count
/// over an hour.
const RATE_LIMITS: [(i64, u64); 6] = [
    (130429, 2),
    (131056, 6),
    (80007, 60),
    (4, 60),
    (32, 60),
    (613, 60),
];

/// Graph error codes that sending again cannot cure: an invalid parameter or recipient (100),
/// a permission refused, or a message outside the window the user allows (10), a lapsed
/// token (190), an Instagram user who is not available (551), a WhatsApp recipient that cannot
/// take the message (131021 is ourselves, 131026 undeliverable, 131030 not on the test
/// allow-list, 131047 the 24-hour window has closed).
const HOPELESS: [i64; 8] = [10, 100, 190, 551, 131021, 131026, 131030, 131047];

#[derive(Debug, Clone)]
pub struct WhatsappCloudApi {
    pub client: Client,
    pub base: Url,
}

#[derive(Debug, Clone)]
pub struct InstagramApi {
    pub client: Client,
    pub base: Url,
}

/// What one webhook call brought for one of our accounts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inbox {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<DeliveryUpdate>,
}

/// A WhatsApp webhook's content, by our `phone_number_id`.
pub type WhatsappBatch = BTreeMap<String, Inbox>;

/// An Instagram webhook's messages, by our account's id.
pub type InstagramBatch = BTreeMap<String, Vec<InboundMessage>>;

/// The query of the GET by which Meta confirms a webhook URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

#[derive(Deserialize)]
struct WhatsappSent {
    messages: Vec<WhatsappMessageId>,
}

#[derive(Deserialize)]
struct WhatsappMessageId {
    id: String,
}

#[derive(Deserialize)]
struct InstagramSent {
    message_id: String,
}

impl WhatsappCloudApi {
    /// Sends a text from our number `phone_number_id` to the WhatsApp number `to`.
    pub async fn send_text(
        &self,
        phone_number_id: &str,
        token: &Secret,
        to: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": text},
        });
        let at = [phone_number_id, "messages"];
        let sent: WhatsappSent = post(WHATSAPP, &self.client, &self.base, &at, token, body).await?;
        let id = sent
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| unexpected(WHATSAPP))?;
        Ok(SentMessage {
            provider_message_id: id.id,
        })
    }
}

impl InstagramApi {
    /// Sends a text from our professional account to the Instagram-scoped user `recipient_id`.
    pub async fn send_text(
        &self,
        account_id: &str,
        token: &Secret,
        recipient_id: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let body = json!({"recipient": {"id": recipient_id}, "message": {"text": text}});
        let at = [account_id, "messages"];
        let sent: InstagramSent =
            post(INSTAGRAM, &self.client, &self.base, &at, token, body).await?;
        Ok(SentMessage {
            provider_message_id: sent.message_id,
        })
    }
}

/// POSTs `body` to `base` + `segments` with the access token, and reads the answer.
async fn post<T: DeserializeOwned>(
    service: &'static str,
    client: &Client,
    base: &Url,
    segments: &[&str],
    token: &Secret,
    body: Value,
) -> Result<T, ProviderError> {
    let answer: Result<T, ProviderError> = async {
        let url = endpoint(service, base, segments)?;
        let request = client.post(url).bearer_auth(token.expose()).json(&body);
        let (status, answer) = exchange(service, request).await?;
        if !status.is_success() {
            return Err(failure(service, status, &answer));
        }
        crate::input::provider_json(&answer).map_err(|_| unexpected(service))
    }
    .await;
    answer.map_err(|err| token.scrub(err))
}

/// A Graph API refusal, classified by its code. A rate limit is said as a 429 whatever the
/// HTTP status, since that is what every caller reads as "slow down".
fn failure(service: &'static str, status: StatusCode, body: &[u8]) -> ProviderError {
    let answer: Value = crate::input::provider_json(body).unwrap_or_default();
    let error = &answer["error"];
    let Some(code) = error["code"].as_i64() else {
        return unexplained(service, status, body);
    };
    let title = error["message"].as_str().unwrap_or("request refused");
    let details = error["error_data"]["details"].as_str();
    let message = match details.filter(|details| !details.is_empty()) {
        Some(details) => format!("{title}: {details}"),
        None => title.to_string(),
    };
    let wait = RATE_LIMITS
        .iter()
        .find(|(limited, _)| *limited == code)
        .map(|(_, secs)| Duration::from_secs(*secs));
    ProviderError {
        status: Some(if wait.is_some() { 429 } else { status.as_u16() }),
        retry_after: wait,
        hopeless: HOPELESS.contains(&code),
        ..ProviderError::new(service, super::http::excerpt(&message, status))
    }
}

/// Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// the app secret, checked in constant time. No secret accepts nothing.
pub fn verify_signature(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(signature) = header
        .strip_prefix("sha256=")
        .and_then(|hex_digest| hex::decode(hex_digest.trim()).ok())
    else {
        return false;
    };
    if app_secret.is_empty() {
        return false;
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// The challenge to echo back when Meta asks to subscribe with our verify token; `None`
/// (answer 403) otherwise.
pub fn verify_challenge<'a>(query: &'a Handshake, expected_token: &str) -> Option<&'a str> {
    let subscribing = query.mode.as_deref() == Some("subscribe");
    let token = query.verify_token.as_deref()?;
    (subscribing && same_secret(expected_token, token))
        .then_some(query.challenge.as_deref())
        .flatten()
}

/// Every text message and delivery status in a WhatsApp webhook: each entry and each change
/// in it, since Meta may batch several. Other message types (media, locations, reactions,
/// buttons) are left out.
pub fn parse_whatsapp_webhook(body: &[u8]) -> Result<WhatsappBatch, serde_json::Error> {
    let payload: Value = crate::input::provider_json(body)?;
    let mut batch = WhatsappBatch::new();
    for change in list(&payload["entry"]).flat_map(|entry| list(&entry["changes"])) {
        let value = &change["value"];
        let Some(number) = id_text(&value["metadata"]["phone_number_id"]) else {
            continue;
        };
        let messages =
            list(&value["messages"]).filter_map(|message| whatsapp_message(message, value));
        let statuses = list(&value["statuses"]).filter_map(whatsapp_status);
        let (messages, statuses): (Vec<_>, Vec<_>) = (messages.collect(), statuses.collect());
        if !(messages.is_empty() && statuses.is_empty()) {
            let inbox = batch.entry(number).or_default();
            inbox.messages.extend(messages);
            inbox.statuses.extend(statuses);
        }
    }
    Ok(batch)
}

/// A text message; its sender's name is in the change's `contacts`, by WhatsApp id.
fn whatsapp_message(message: &Value, change: &Value) -> Option<InboundMessage> {
    if message["type"] != "text" {
        return None;
    }
    let from = id_text(&message["from"])?;
    let name = list(&change["contacts"])
        .find(|contact| contact["wa_id"].as_str() == Some(from.as_str()))
        .and_then(|contact| contact["profile"]["name"].as_str())
        .map(str::to_string);
    Some(InboundMessage {
        provider_message_id: id_text(&message["id"])?,
        remote_user_name: name,
        chat_id: from.clone(),
        remote_user_id: from,
        text: message["text"]["body"].as_str()?.to_string(),
        sent_at: unix_secs(&message["timestamp"]),
    })
}

fn whatsapp_status(status: &Value) -> Option<DeliveryUpdate> {
    let delivery = match status["status"].as_str()? {
        "sent" => Delivery::Sent,
        "delivered" => Delivery::Delivered,
        "read" => Delivery::Read,
        "failed" => Delivery::Failed,
        // "played" (a voice note), "deleted" and the like change nothing we track.
        _ => return None,
    };
    let error = list(&status["errors"]).next().map(|error| {
        let title = error["title"].as_str().or(error["message"].as_str());
        let details = error["error_data"]["details"].as_str();
        let code = error["code"].as_i64().map(|code| format!("({code}) "));
        let text = [title, details].into_iter().flatten().collect::<Vec<_>>();
        format!("{}{}", code.unwrap_or_default(), text.join(": "))
    });
    Some(DeliveryUpdate {
        provider_message_id: id_text(&status["id"])?,
        status: delivery,
        error,
        at: unix_secs(&status["timestamp"])?,
    })
}

/// Every text a person sent in an Instagram webhook, by the account it was sent to. Echoes
/// of our own messages, reactions, reads, postbacks and messages without text are left out.
pub fn parse_instagram_webhook(body: &[u8]) -> Result<InstagramBatch, serde_json::Error> {
    let payload: Value = crate::input::provider_json(body)?;
    let mut batch = InstagramBatch::new();
    for entry in list(&payload["entry"]) {
        for event in list(&entry["messaging"]) {
            let account = id_text(&event["recipient"]["id"]).or_else(|| id_text(&entry["id"]));
            if let (Some(account), Some(message)) = (account, instagram_message(event)) {
                batch.entry(account).or_default().push(message);
            }
        }
    }
    Ok(batch)
}

fn instagram_message(event: &Value) -> Option<InboundMessage> {
    let message = &event["message"];
    let ours = message["is_echo"].as_bool() == Some(true);
    let gone = message["is_deleted"].as_bool() == Some(true);
    if ours || gone {
        return None;
    }
    let text = message["text"]
        .as_str()
        .filter(|text| !text.trim().is_empty())?;
    let sender = id_text(&event["sender"]["id"])?;
    Some(InboundMessage {
        provider_message_id: id_text(&message["mid"])?,
        chat_id: sender.clone(),
        remote_user_id: sender,
        remote_user_name: None,
        text: text.to_string(),
        // Instagram counts in milliseconds.
        sent_at: event["timestamp"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sign_webhook as sign;
    use crate::providers::messaging::test_client;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBA-secret";

    fn token() -> Secret {
        Secret::new(ACCESS_TOKEN)
    }

    /// A fake Graph API serving both channels under their version, as Meta's hosts do.
    async fn graph() -> (MockServer, WhatsappCloudApi, InstagramApi) {
        let server = MockServer::start().await;
        let base = Url::parse(&format!("{}/v21.0", server.uri())).unwrap();
        let whatsapp = WhatsappCloudApi {
            client: test_client(),
            base: base.clone(),
        };
        let instagram = InstagramApi {
            client: test_client(),
            base,
        };
        (server, whatsapp, instagram)
    }

    /// Expects one POST of `request` to `at`, with our token, and answers it with `answer`.
    async fn expect_send(server: &MockServer, at: &str, request: Value, answer: Value) {
        Mock::given(method("POST"))
            .and(path(at))
            .and(header(
                "authorization",
                format!("Bearer {ACCESS_TOKEN}").as_str(),
            ))
            .and(body_json(request))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(server)
            .await;
    }

    /// A Graph API error as Meta words it.
    fn graph_error(code: i64, message: &str, details: Option<&str>) -> Value {
        let mut error = json!({"message": message, "type": "OAuthException", "code": code,
                               "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"});
        if let Some(details) = details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        json!({ "error": error })
    }

    enum Via {
        Whatsapp,
        Instagram,
    }

    /// What a send via one channel makes of a Graph API answering `status` with `error`.
    async fn refusal(via: Via, status: u16, error: Value) -> ProviderError {
        let (server, whatsapp, instagram) = graph().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(error))
            .mount(&server)
            .await;
        let sent = match via {
            Via::Whatsapp => whatsapp.send_text("1065", &token(), "1650", "hi").await,
            Via::Instagram => instagram.send_text("1784", &token(), "1254", "hi").await,
        };
        sent.unwrap_err()
    }

    #[tokio::test]
    async fn each_channel_posts_its_own_text_shape_and_answers_the_message_id() {
        let (server, whatsapp, instagram) = graph().await;
        let wamid = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
        expect_send(
            &server,
            "/v21.0/106540352242922/messages",
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"body": "Hello"},
            }),
            json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                "messages": [{"id": wamid}]
            }),
        )
        .await;
        let mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAw";
        expect_send(
            &server,
            "/v21.0/17841400000000000/messages",
            json!({"recipient": {"id": "1254459154682919"}, "message": {"text": "Hi"}}),
            json!({"recipient_id": "1254459154682919", "message_id": mid}),
        )
        .await;

        let sent = whatsapp
            .send_text("106540352242922", &token(), "16505551234", "Hello")
            .await
            .unwrap();
        assert_eq!(sent.provider_message_id, wamid);
        let sent = instagram
            .send_text("17841400000000000", &token(), "1254459154682919", "Hi")
            .await
            .unwrap();
        assert_eq!(sent.provider_message_id, mid);
    }

    #[tokio::test]
    async fn whatsapp_rate_limit_130429_is_transient_with_a_backoff() {
        let details = "Message failed to send because there were too many messages sent from this phone number in a short period of time";
        let error = graph_error(130429, "(#130429) Rate limit hit", Some(details));
        let err = refusal(Via::Whatsapp, 400, error).await;
        assert!(err.is_transient() && !err.hopeless);
        assert_eq!(err.status, Some(429));
        assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(err.message, format!("(#130429) Rate limit hit: {details}"));
    }

    #[tokio::test]
    async fn whatsapp_undeliverable_131026_is_hopeless_and_keeps_the_token_out() {
        let details = "Message Undeliverable. The recipient may not be a WhatsApp user.";
        let error = graph_error(131026, "(#131026) Message Undeliverable.", Some(details));
        let err = refusal(Via::Whatsapp, 400, error).await;
        assert!(err.hopeless && !err.is_transient());
        assert_eq!(err.status, Some(400));
        assert!(!format!("{err:?}").contains(ACCESS_TOKEN));
    }

    #[tokio::test]
    async fn an_unknown_graph_error_keeps_its_http_status() {
        let error = graph_error(1, "An unknown error has occurred.", None);
        let err = refusal(Via::Whatsapp, 500, error).await;
        assert_eq!(err.status, Some(500));
        assert!(err.is_transient() && err.retry_after.is_none());
        assert_eq!(err.message, "An unknown error has occurred.");
    }

    #[tokio::test]
    async fn instagram_user_unavailable_is_hopeless_and_613_waits() {
        let unavailable = graph_error(551, "(#551) This person isn't available right now.", None);
        let err = refusal(Via::Instagram, 400, unavailable).await;
        assert!(err.hopeless);
        assert_eq!(err.message, "(#551) This person isn't available right now.");

        let limited = graph_error(
            613,
            "(#613) Calls to this api have exceeded the rate limit.",
            None,
        );
        let err = refusal(Via::Instagram, 400, limited).await;
        assert!(err.is_transient() && !err.hopeless);
        assert_eq!(err.retry_after, Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_signature_counts_only_over_the_exact_body_with_the_app_secret() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let signed = sign("app-secret", body);
        assert!(verify_signature("app-secret", body, &signed));
        assert!(
            !verify_signature("other-secret", body, &signed),
            "wrong secret"
        );
        let tampered = br#"{"object":"whatsapp_business_account","entry":[{}]}"#;
        assert!(
            !verify_signature("app-secret", tampered, &signed),
            "tampered body"
        );
        let bare = signed.trim_start_matches("sha256=");
        assert!(
            !verify_signature("app-secret", body, bare),
            "missing prefix"
        );
        assert!(
            !verify_signature("app-secret", body, "sha256=zz"),
            "not hex"
        );
        assert!(
            !verify_signature("", body, &sign("", body)),
            "no secret configured"
        );
    }

    #[test]
    fn the_challenge_is_echoed_only_for_a_subscription_with_our_verify_token() {
        let uri: axum::http::Uri =
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=my-token&hub.challenge=1158201444"
                .parse()
                .unwrap();
        let axum::extract::Query(query) =
            axum::extract::Query::<Handshake>::try_from_uri(&uri).unwrap();
        assert_eq!(verify_challenge(&query, "my-token"), Some("1158201444"));
        assert_eq!(verify_challenge(&query, "other-token"), None);
        let unsubscribe = Handshake {
            mode: Some("unsubscribe".into()),
            ..query.clone()
        };
        assert_eq!(verify_challenge(&unsubscribe, "my-token"), None);
        assert_eq!(verify_challenge(&Handshake::default(), ""), None);
    }

    /// Two entries (two business accounts), each with two changes: texts, a statuses-only
    /// change with a failure, and an image.
    fn whatsapp_payload() -> Value {
        let metadata =
            |id: &str| json!({"display_phone_number": "15550783881", "phone_number_id": id});
        json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [
                    {"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": metadata("106540352242922"),
                        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                        "messages": [{"from": "16505551234", "id": "wamid.A1", "timestamp": "1749416383",
                                      "type": "text", "text": {"body": "Does it come in another color?"}}]
                    }},
                    {"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": metadata("106540352242922"),
                        "statuses": [
                            {"id": "wamid.OUT1", "status": "delivered", "timestamp": "1749416400",
                             "recipient_id": "16505551234",
                             "conversation": {"id": "c1", "origin": {"type": "service"}},
                             "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}},
                            {"id": "wamid.OUT2", "status": "failed", "timestamp": "1749416401",
                             "recipient_id": "16505550000",
                             "errors": [{"code": 131026, "title": "Message undeliverable",
                                         "message": "Message undeliverable",
                                         "error_data": {"details": "Message Undeliverable."},
                                         "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]}
                        ]
                    }}
                ]},
                {"id": "102290129340399", "changes": [
                    {"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": metadata("207777777777777"),
                        "contacts": [{"profile": {"name": "Ivan"}, "wa_id": "79990001122"}],
                        "messages": [{"from": "79990001122", "id": "wamid.B1", "timestamp": "1749416500",
                                      "type": "image", "image": {"mime_type": "image/jpeg", "sha256": "x", "id": "m1"}}]
                    }},
                    {"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": metadata("207777777777777"),
                        "contacts": [{"profile": {"name": "Ivan"}, "wa_id": "79990001122"}],
                        "messages": [{"from": "79990001122", "id": "wamid.B2", "timestamp": "1749416501",
                                      "type": "text", "text": {"body": "Привет"}}],
                        "statuses": [{"id": "wamid.OUT3", "status": "read", "timestamp": "1749416502",
                                      "recipient_id": "79990001122"}]
                    }}
                ]}
            ]
        })
    }

    #[test]
    fn every_entry_and_change_of_a_whatsapp_webhook_is_read_by_our_number() {
        let body = serde_json::to_vec(&whatsapp_payload()).unwrap();
        let batch = parse_whatsapp_webhook(&body).unwrap();
        assert_eq!(batch.len(), 2);

        let first = &batch["106540352242922"];
        assert_eq!(
            first.messages,
            vec![InboundMessage {
                provider_message_id: "wamid.A1".into(),
                remote_user_id: "16505551234".into(),
                remote_user_name: Some("Sheena Nelson".into()),
                chat_id: "16505551234".into(),
                text: "Does it come in another color?".into(),
                sent_at: DateTime::from_timestamp(1749416383, 0),
            }]
        );
        assert_eq!(first.statuses.len(), 2);
        assert_eq!(first.statuses[0].status, Delivery::Delivered);
        assert_eq!(first.statuses[0].error, None);
        assert_eq!(first.statuses[1].status, Delivery::Failed);
        assert_eq!(
            first.statuses[1].error.as_deref(),
            Some("(131026) Message undeliverable: Message Undeliverable.")
        );
        assert_eq!(
            first.statuses[1].at,
            DateTime::from_timestamp(1749416401, 0).unwrap()
        );

        // The image is left out; the text in the entry's second change is not.
        let second = &batch["207777777777777"];
        assert_eq!(second.messages.len(), 1);
        assert_eq!(second.messages[0].provider_message_id, "wamid.B2");
        assert_eq!(second.messages[0].remote_user_name.as_deref(), Some("Ivan"));
        assert_eq!(second.statuses[0].status, Delivery::Read);
    }

    #[test]
    fn an_instagram_webhook_yields_only_what_a_person_wrote() {
        let ours = "17841400000000000";
        let event = |body: Value| {
            let mut event = json!({"sender": {"id": "1254459154682919"}, "recipient": {"id": ours},
                                   "timestamp": 1569262485349_i64});
            event
                .as_object_mut()
                .unwrap()
                .extend(body.as_object().unwrap().clone());
            event
        };
        let echo = json!({"sender": {"id": ours}, "recipient": {"id": "1254459154682919"},
                          "timestamp": 1569262485000_i64,
                          "message": {"mid": "m-echo", "text": "Our reply", "is_echo": true}});
        let payload = json!({"object": "instagram", "entry": [{
            "id": ours, "time": 1569262486134_i64,
            "messaging": [
                echo,
                event(json!({"reaction": {"mid": "m-1", "action": "react", "reaction": "love", "emoji": "❤"}})),
                event(json!({"read": {"mid": "m-echo"}})),
                event(json!({"message": {"mid": "m-2", "attachments": [{"type": "image", "payload": {"url": "https://x"}}]}})),
                event(json!({"message": {"mid": "m-3", "text": "Есть доставка в Казань?"}})),
            ]
        }]});
        let batch = parse_instagram_webhook(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(
            batch[ours],
            vec![InboundMessage {
                provider_message_id: "m-3".into(),
                remote_user_id: "1254459154682919".into(),
                remote_user_name: None,
                chat_id: "1254459154682919".into(),
                text: "Есть доставка в Казань?".into(),
                sent_at: DateTime::from_timestamp_millis(1569262485349),
            }]
        );
        assert_eq!(batch.len(), 1, "the echo is not filed under the user");
    }

    #[test]
    fn a_webhook_body_that_is_not_json_is_an_error() {
        assert!(parse_whatsapp_webhook(b"<xml/>").is_err());
        assert!(parse_instagram_webhook(b"").is_err());
        assert!(parse_whatsapp_webhook(b"{}").unwrap().is_empty());
    }
}
