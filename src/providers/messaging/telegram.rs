//! The Telegram Bot API: a bot's identity, its webhook or long polling, and sending text.
//! The bot token is part of every request's path, so no error built here carries the URL,
//! and any copy of the token a failure's text might hold is masked.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{
    endpoint, exchange, id_text, same_secret, unexpected, unexplained, unix_secs, InboundMessage,
    ProviderError, Secret, SentMessage,
};

const SERVICE: &str = "Telegram";

pub const DEFAULT_BASE: &str = "https://api.telegram.org";

/// The updates a bot asks for. Edits are not among them: an edited message was answered when
/// it was first sent, and answering its edit would answer it twice.
pub const ALLOWED_UPDATES: [&str; 1] = ["message"];

/// How much longer than its long poll a `getUpdates` request may take before it counts as
/// timed out: Telegram answers an empty poll only once the poll's time is up.
const POLL_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct TelegramApi {
    pub client: Client,
    pub base: Url,
}

/// Who a bot token belongs to (`getMe`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BotIdentity {
    pub id: i64,
    pub username: String,
}

/// One update as read: its id, which long polling confirms by asking from the next, and the
/// message in it or why it holds none worth answering.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub update_id: i64,
    pub message: Result<InboundMessage, Skipped>,
}

/// Why an update carries no message to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// An edit of a message already received.
    Edit,
    /// A photo, sticker, voice note or the like: only text is answered.
    NotText,
    /// Sent by a bot, or on behalf of a channel or group rather than a person.
    NotFromPerson,
    /// Some other kind of update, or a message missing its ids.
    Unreadable,
}

/// Telegram's answer to every method: `result` when `ok`, otherwise why not.
#[derive(Deserialize)]
struct Answer<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<u16>,
    description: Option<String>,
    #[serde(default)]
    parameters: Parameters,
}

#[derive(Deserialize, Default)]
struct Parameters {
    /// Seconds to wait, on a 429.
    retry_after: Option<u64>,
    /// A group's new id once it became a supergroup: the old one takes no more messages.
    migrate_to_chat_id: Option<i64>,
}

#[derive(Deserialize)]
struct Sent {
    message_id: i64,
    chat: Chat,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

impl TelegramApi {
    pub async fn get_me(&self, token: &Secret) -> Result<BotIdentity, ProviderError> {
        self.call(token, "getMe", json!({}), None).await
    }

    /// Has Telegram post updates to `url`, with `secret_token` in the
    /// `X-Telegram-Bot-Api-Secret-Token` header of each (see [`secret_token_matches`]).
    pub async fn set_webhook(
        &self,
        token: &Secret,
        url: &str,
        secret_token: &str,
    ) -> Result<(), ProviderError> {
        let body = json!({
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": ALLOWED_UPDATES,
        });
        self.call::<bool>(token, "setWebhook", body, None)
            .await
            .map(drop)
    }

    /// Stops the webhook (long polling is refused while one is set); pending updates stay.
    pub async fn delete_webhook(&self, token: &Secret) -> Result<(), ProviderError> {
        self.call::<bool>(token, "deleteWebhook", json!({}), None)
            .await
            .map(drop)
    }

    /// Waits up to `timeout_secs` for updates after those confirmed: pass the last seen
    /// `update_id + 1` as `offset`.
    pub async fn get_updates(
        &self,
        token: &Secret,
        offset: Option<i64>,
        timeout_secs: u32,
    ) -> Result<Vec<Update>, ProviderError> {
        let body = json!({
            "offset": offset,
            "timeout": timeout_secs,
            "allowed_updates": ALLOWED_UPDATES,
        });
        let wait = Duration::from_secs(timeout_secs.into()) + POLL_GRACE;
        let updates: Vec<Value> = self.call(token, "getUpdates", body, Some(wait)).await?;
        Ok(updates.iter().filter_map(parse_update).collect())
    }

    /// Sends `text` to `chat_id`. The id it answers with is `<chat id>:<message id>`, since
    /// Telegram numbers messages per chat.
    pub async fn send_message(
        &self,
        token: &Secret,
        chat_id: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let body = json!({"chat_id": chat_id, "text": text});
        let sent: Sent = self.call(token, "sendMessage", body, None).await?;
        Ok(SentMessage {
            provider_message_id: format!("{}:{}", sent.chat.id, sent.message_id),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: &str,
        body: Value,
        timeout: Option<Duration>,
    ) -> Result<T, ProviderError> {
        let answer: Result<T, ProviderError> = async {
            let bot = format!("bot{}", token.expose());
            let url = endpoint(SERVICE, &self.base, &[&bot, method])?;
            let mut request = self.client.post(url).json(&body);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let (status, body) = exchange(SERVICE, request).await?;
            read(status, &body)
        }
        .await;
        answer.map_err(|err| token.scrub(err))
    }
}

fn read<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
    match crate::input::provider_json::<Answer<T>>(body) {
        Ok(Answer {
            ok: true,
            result: Some(result),
            ..
        }) if status.is_success() => Ok(result),
        Ok(answer) if !answer.ok => Err(failure(status, answer)),
        _ if status.is_success() => Err(unexpected(SERVICE)),
        _ => Err(unexplained(SERVICE, status, body)),
    }
}

/// Telegram's refusal, classified: a 429 waits `parameters.retry_after`; a bad request, a bad
/// token, or a chat that is gone or has blocked the bot (400, 401, 403, 404) is not worth
/// sending again.
fn failure<T>(status: StatusCode, answer: Answer<T>) -> ProviderError {
    let code = answer.error_code.unwrap_or(status.as_u16());
    let mut message = answer
        .description
        .unwrap_or_else(|| "request refused".into());
    if let Some(chat) = answer.parameters.migrate_to_chat_id {
        message.push_str(&format!(" (the chat is now {chat})"));
    }
    ProviderError {
        status: Some(code),
        retry_after: answer.parameters.retry_after.map(Duration::from_secs),
        hopeless: matches!(code, 400 | 401 | 403 | 404),
        ..ProviderError::new(SERVICE, message)
    }
}

/// Whether a webhook call's `X-Telegram-Bot-Api-Secret-Token` is the one given to
/// [`TelegramApi::set_webhook`], compared in constant time.
pub fn secret_token_matches(expected: &str, header: Option<&str>) -> bool {
    header.is_some_and(|given| same_secret(expected, given))
}

/// One update, from a webhook's body or a `getUpdates` page; `None` only for something with
/// no `update_id`, which is no update at all.
pub fn parse_update(update: &Value) -> Option<Update> {
    let update_id = update["update_id"].as_i64()?;
    let message = if update["message"].is_object() {
        read_message(&update["message"])
    } else if update["edited_message"].is_object() {
        Err(Skipped::Edit)
    } else {
        Err(Skipped::Unreadable)
    };
    Some(Update { update_id, message })
}

/// A message's sender is `from`, and replies go to `chat`: the same in a private chat, the
/// group in a group.
fn read_message(message: &Value) -> Result<InboundMessage, Skipped> {
    let from = &message["from"];
    let sender = id_text(&from["id"]).ok_or(Skipped::NotFromPerson)?;
    // An anonymous group admin writes as the group, through Telegram's own bot.
    if from["is_bot"].as_bool() == Some(true) || message["sender_chat"].is_object() {
        return Err(Skipped::NotFromPerson);
    }
    let text = message["text"].as_str().ok_or(Skipped::NotText)?;
    let chat_id = id_text(&message["chat"]["id"]).ok_or(Skipped::Unreadable)?;
    let message_id = id_text(&message["message_id"]).ok_or(Skipped::Unreadable)?;
    Ok(InboundMessage {
        provider_message_id: format!("{chat_id}:{message_id}"),
        remote_user_id: sender,
        remote_user_name: name(from),
        chat_id,
        text: text.to_string(),
        sent_at: unix_secs(&message["date"]),
    })
}

/// A person's name as Telegram shows it, or their username when they gave no name.
fn name(user: &Value) -> Option<String> {
    let parts: Vec<&str> = [&user["first_name"], &user["last_name"]]
        .into_iter()
        .filter_map(Value::as_str)
        .filter(|part| !part.trim().is_empty())
        .collect();
    if parts.is_empty() {
        user["username"].as_str().map(str::to_string)
    } else {
        Some(parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::messaging::test_client;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "123456789:AAH-secret-token_xyz";

    fn token() -> Secret {
        Secret::new(TOKEN)
    }

    async fn api() -> (MockServer, TelegramApi) {
        let server = MockServer::start().await;
        let api = TelegramApi {
            client: test_client(),
            base: Url::parse(&server.uri()).unwrap(),
        };
        (server, api)
    }

    /// A Bot API that answers every request with `response`.
    async fn answering(response: impl wiremock::Respond + 'static) -> (MockServer, TelegramApi) {
        let (server, api) = api().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        (server, api)
    }

    async fn answer(server: &MockServer, method_name: &str, status: u16, body: Value) {
        Mock::given(method("POST"))
            .and(path(format!("/bot{TOKEN}/{method_name}")))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(server)
            .await;
    }

    fn assert_no_token(err: &ProviderError) {
        assert!(!err.message.contains(TOKEN), "{}", err.message);
        assert!(!format!("{err:?}").contains(TOKEN));
        assert!(!err.describe().contains(TOKEN));
    }

    /// A text message in a private chat, as Telegram sends it.
    fn private_text() -> Value {
        json!({
            "update_id": 10001,
            "message": {
                "message_id": 42,
                "from": {"id": 555, "is_bot": false, "first_name": "Anna", "last_name": "Petrova",
                         "username": "anna_p", "language_code": "ru"},
                "chat": {"id": 555, "first_name": "Anna", "last_name": "Petrova",
                         "username": "anna_p", "type": "private"},
                "date": 1749416383,
                "text": "Здравствуйте! Сколько стоит доставка?"
            }
        })
    }

    #[tokio::test]
    async fn get_me_names_the_bot_a_token_belongs_to() {
        let (server, api) = api().await;
        answer(
            &server,
            "getMe",
            200,
            json!({"ok": true, "result": {
                "id": 123456789, "is_bot": true, "first_name": "Switchboard",
                "username": "switchboard_bot", "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false
            }}),
        )
        .await;
        let bot = api.get_me(&token()).await.unwrap();
        assert_eq!(
            bot,
            BotIdentity {
                id: 123456789,
                username: "switchboard_bot".into()
            }
        );
    }

    #[tokio::test]
    async fn a_bad_token_is_a_hopeless_401_that_does_not_repeat_the_token() {
        let (server, api) = api().await;
        answer(
            &server,
            "getMe",
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        )
        .await;
        let err = api.get_me(&token()).await.unwrap_err();
        assert_eq!(err.status, Some(401));
        assert!(err.hopeless && !err.is_transient());
        assert_eq!(err.message, "Unauthorized");
        assert_no_token(&err);
    }

    #[tokio::test]
    async fn send_message_posts_the_chat_and_text_and_answers_chat_and_message_id() {
        let (server, api) = api().await;
        Mock::given(method("POST"))
            .and(path(format!("/bot{TOKEN}/sendMessage")))
            .and(body_json(json!({"chat_id": "-1001234567890", "text": "Hello"})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
                "message_id": 77,
                "from": {"id": 123456789, "is_bot": true, "first_name": "Switchboard", "username": "switchboard_bot"},
                "chat": {"id": -1001234567890_i64, "title": "Support", "type": "supergroup"},
                "date": 1749416400,
                "text": "Hello"
            }})))
            .expect(1)
            .mount(&server)
            .await;
        let sent = api
            .send_message(&token(), "-1001234567890", "Hello")
            .await
            .unwrap();
        assert_eq!(sent.provider_message_id, "-1001234567890:77");
    }

    #[tokio::test]
    async fn flood_control_is_transient_and_waits_the_seconds_telegram_asks() {
        let (server, api) = api().await;
        answer(
            &server,
            "sendMessage",
            429,
            json!({
                "ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 5",
                "parameters": {"retry_after": 5}
            }),
        )
        .await;
        let err = api.send_message(&token(), "555", "hi").await.unwrap_err();
        assert!(err.is_transient() && !err.hopeless);
        assert_eq!(err.status, Some(429));
        assert_eq!(err.retry_after, Some(Duration::from_secs(5)));
        assert_no_token(&err);
    }

    #[tokio::test]
    async fn a_user_who_blocked_the_bot_or_a_missing_chat_is_hopeless() {
        let (server, api) = api().await;
        answer(&server, "sendMessage", 403, json!({
            "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"
        }))
        .await;
        let err = api.send_message(&token(), "555", "hi").await.unwrap_err();
        assert!(err.hopeless && !err.is_transient());
        assert_eq!(err.message, "Forbidden: bot was blocked by the user");

        let (server, api) = self::api().await;
        answer(
            &server,
            "sendMessage",
            400,
            json!({
                "ok": false, "error_code": 400, "description": "Bad Request: chat not found"
            }),
        )
        .await;
        let err = api.send_message(&token(), "1", "hi").await.unwrap_err();
        assert!(err.hopeless);
        assert_eq!(err.status, Some(400));
    }

    #[tokio::test]
    async fn a_group_that_became_a_supergroup_is_reported_with_its_new_id() {
        let (server, api) = api().await;
        answer(
            &server,
            "sendMessage",
            400,
            json!({
                "ok": false, "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": -1009876543210_i64}
            }),
        )
        .await;
        let err = api.send_message(&token(), "-4321", "hi").await.unwrap_err();
        assert!(err.message.ends_with("(the chat is now -1009876543210)"));
    }

    #[tokio::test]
    async fn no_error_carries_the_token_even_when_the_answer_echoes_the_url() {
        let (_server, api) = answering(|request: &wiremock::Request| {
            ResponseTemplate::new(502)
                .set_body_string(format!("<html>bad gateway for {}</html>", request.url))
        })
        .await;
        let err = api.send_message(&token(), "555", "hi").await.unwrap_err();
        assert!(err.is_transient());
        assert!(
            err.message.contains("/bot***/sendMessage"),
            "{}",
            err.message
        );
        assert_no_token(&err);

        // Nothing listens here: the connection error is said without the URL.
        let unreachable = TelegramApi {
            client: test_client(),
            base: Url::parse("http://127.0.0.1:9").unwrap(),
        };
        let err = unreachable.get_me(&token()).await.unwrap_err();
        assert!(err.is_transient() && err.status.is_none());
        assert_no_token(&err);
    }

    #[tokio::test]
    async fn a_timeout_is_transient_and_said_without_the_url() {
        let (_server, api) =
            answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(10))).await;
        let err = api.send_message(&token(), "555", "hi").await.unwrap_err();
        assert_eq!(err.message, "timed out");
        assert!(err.is_transient() && err.status.is_none());
        assert_no_token(&err);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_telegrams_json_is_an_error_not_a_panic() {
        let (_server, api) =
            answering(ResponseTemplate::new(200).set_body_string("not json")).await;
        let err = api.get_me(&token()).await.unwrap_err();
        assert_eq!(err.message, "answered with unexpected JSON");
    }

    #[tokio::test]
    async fn set_webhook_sends_the_url_secret_and_wanted_updates() {
        let (server, api) = api().await;
        Mock::given(method("POST"))
            .and(path(format!("/bot{TOKEN}/setWebhook")))
            .and(body_json(json!({
                "url": "https://switchboard.example/webhooks/telegram/abc",
                "secret_token": "s3cret-Token_1",
                "allowed_updates": ["message"],
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "result": true, "description": "Webhook was set"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        answer(
            &server,
            "deleteWebhook",
            200,
            json!({
                "ok": true, "result": true, "description": "Webhook was deleted"
            }),
        )
        .await;
        api.set_webhook(
            &token(),
            "https://switchboard.example/webhooks/telegram/abc",
            "s3cret-Token_1",
        )
        .await
        .unwrap();
        api.delete_webhook(&token()).await.unwrap();
    }

    #[tokio::test]
    async fn get_updates_asks_from_the_offset_and_reads_every_update() {
        let (server, api) = api().await;
        let photo = json!({"update_id": 10002, "message": {
            "message_id": 43, "from": {"id": 555, "is_bot": false, "first_name": "Anna"},
            "chat": {"id": 555, "type": "private"}, "date": 1749416390,
            "photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 60, "file_size": 1200}]
        }});
        Mock::given(method("POST"))
            .and(path(format!("/bot{TOKEN}/getUpdates")))
            .and(body_json(
                json!({"offset": 10001, "timeout": 25, "allowed_updates": ["message"]}),
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "result": [private_text(), photo]})),
            )
            .mount(&server)
            .await;
        let updates = api.get_updates(&token(), Some(10001), 25).await.unwrap();
        assert_eq!(updates.len(), 2);
        assert_eq!(
            updates[0].message.as_ref().unwrap().provider_message_id,
            "555:42"
        );
        assert_eq!(updates[1].update_id, 10002);
        assert_eq!(updates[1].message, Err(Skipped::NotText));
    }

    #[test]
    fn a_private_text_message_becomes_an_inbound_message_from_its_sender() {
        let update = parse_update(&private_text()).unwrap();
        assert_eq!(update.update_id, 10001);
        assert_eq!(
            update.message.unwrap(),
            InboundMessage {
                provider_message_id: "555:42".into(),
                remote_user_id: "555".into(),
                remote_user_name: Some("Anna Petrova".into()),
                chat_id: "555".into(),
                text: "Здравствуйте! Сколько стоит доставка?".into(),
                sent_at: chrono::DateTime::from_timestamp(1749416383, 0),
            }
        );
    }

    #[test]
    fn in_a_group_the_sender_is_the_user_and_replies_go_to_the_group() {
        let update = json!({"update_id": 10003, "message": {
            "message_id": 9,
            "from": {"id": 777, "is_bot": false, "first_name": "", "username": "boris"},
            "chat": {"id": -1001234567890_i64, "title": "Support", "type": "supergroup"},
            "date": 1749416500, "text": "@switchboard_bot есть кто?"
        }});
        let message = parse_update(&update).unwrap().message.unwrap();
        assert_eq!(message.remote_user_id, "777");
        assert_eq!(message.remote_user_name.as_deref(), Some("boris"));
        assert_eq!(message.chat_id, "-1001234567890");
        assert_eq!(message.provider_message_id, "-1001234567890:9");
    }

    #[test]
    fn photos_edits_bots_and_other_updates_are_skipped_with_their_reason() {
        let mut photo = private_text();
        photo["message"]
            .as_object_mut()
            .unwrap()
            .remove("text")
            .unwrap();
        photo["message"]["photo"] =
            json!([{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 60}]);
        photo["message"]["caption"] = json!("look");
        assert_eq!(parse_update(&photo).unwrap().message, Err(Skipped::NotText));

        let edit = json!({"update_id": 5, "edited_message": private_text()["message"], });
        assert_eq!(parse_update(&edit).unwrap().message, Err(Skipped::Edit));

        let mut from_bot = private_text();
        from_bot["message"]["from"]["is_bot"] = json!(true);
        assert_eq!(
            parse_update(&from_bot).unwrap().message,
            Err(Skipped::NotFromPerson)
        );

        let poll = json!({"update_id": 6, "poll": {"id": "1", "question": "?"}});
        assert_eq!(
            parse_update(&poll).unwrap().message,
            Err(Skipped::Unreadable)
        );
        assert_eq!(parse_update(&json!({"message": {}})), None);
    }

    #[test]
    fn only_the_webhooks_own_secret_token_is_accepted() {
        assert!(secret_token_matches("s3cret", Some("s3cret")));
        assert!(!secret_token_matches("s3cret", Some("s3creT")));
        assert!(!secret_token_matches("s3cret", None));
        assert!(!secret_token_matches("", Some("")));
    }
}
