//! Fake Telegram Bot API and OpenAI-compatible chat servers, answering with the real JSON.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const BOT_TOKEN: &str = "123456:AAE-test-token-never-shown";

pub struct ChatFakes {
    pub telegram: MockServer,
    pub openai: MockServer,
}

/// The fake LLM's answers: a translation prompt gets `translations[language]` (or the text
/// back), anything else "Reply n to: <last user message>".
struct ChatAnswers {
    replies: AtomicUsize,
}

impl Respond for ChatAnswers {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let system = messages
            .first()
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        let content = if system.starts_with("Translate the user's message") {
            match (system.contains("'en'"), system.contains("'es'")) {
                (true, _) => format!("[en] {last_user}"),
                (_, true) => format!("[es] {last_user}"),
                _ => last_user,
            }
        } else {
            let n = self.replies.fetch_add(1, Ordering::SeqCst) + 1;
            format!("Reply {n} to: {last_user}")
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
        }))
    }
}

impl ChatFakes {
    pub async fn start() -> Self {
        let fakes = Self {
            telegram: MockServer::start().await,
            openai: MockServer::start().await,
        };
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ChatAnswers {
                replies: AtomicUsize::new(0),
            })
            .mount(&fakes.openai)
            .await;
        let bot = format!("/bot{BOT_TOKEN}");
        Mock::given(method("POST"))
            .and(path(format!("{bot}/getMe")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
                "result": {"id": 123456, "is_bot": true, "first_name": "Acme", "username": "acme_bot"}})))
            .mount(&fakes.telegram)
            .await;
        for call in ["setWebhook", "deleteWebhook"] {
            Mock::given(method("POST"))
                .and(path(format!("{bot}/{call}")))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})),
                )
                .mount(&fakes.telegram)
                .await;
        }
        fakes.telegram_sends_ok().await;
        fakes
    }

    /// sendMessage answers as Telegram does, numbering messages.
    pub async fn telegram_sends_ok(&self) {
        let sent = Arc::new(AtomicUsize::new(0));
        Mock::given(method("POST"))
            .and(path_regex(r"^/bot[^/]+/sendMessage$"))
            .respond_with(move |request: &Request| {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                // Telegram numbers a chat's messages in one sequence, both ways: ours never
                // take a number a customer's message (`telegram_update`'s) has in the chat.
                let n = sent.fetch_add(1, Ordering::SeqCst) + 1_000_000;
                // Telegram's chat ids are numbers, whichever way they were sent.
                let chat = match &body["chat_id"] {
                    Value::String(id) => id.parse::<i64>().map(Value::from).unwrap_or_default(),
                    other => other.clone(),
                };
                ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
                    "message_id": n, "date": 1_733_000_000,
                    "chat": {"id": chat, "type": "private"}, "text": body["text"]}}))
            })
            .mount(&self.telegram)
            .await;
    }

    /// The bodies of the messages sent through Telegram, oldest first.
    pub async fn telegram_sent(&self) -> Vec<Value> {
        self.telegram
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with("/sendMessage"))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }

    /// The bodies of the chat completions asked of the LLM, oldest first.
    pub async fn llm_asked(&self) -> Vec<Value> {
        self.openai
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

/// A Telegram update as the Bot API posts it to a webhook.
pub fn telegram_update(update_id: i64, from: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id * 10,
        "from": {"id": from, "is_bot": false, "first_name": "Ana", "language_code": "es"},
        "chat": {"id": from, "first_name": "Ana", "type": "private"},
        "date": 1_733_000_000, "text": text}})
}
