//! A fake Telegram Bot API for broadcasts: it answers `sendMessage` as Telegram does and
//! remembers every send by chat, with its time. Chats can be made to fail: blocked ones
//! answer 403 as Telegram does for a user who blocked the bot; flaky ones answer 500 a
//! number of times first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const BOT_TOKEN: &str = "424242:AAE-broadcast-token";

#[derive(Default)]
pub struct Behaviour {
    /// (chat, when) of every sendMessage that was answered 200, in order.
    pub sent: Vec<(String, Instant)>,
    /// Every sendMessage asked, by chat.
    pub asked: HashMap<String, usize>,
    pub blocked: HashSet<String>,
    /// Chats that fail with 500 this many more times.
    pub flaky: HashMap<String, usize>,
}

#[derive(Clone, Default)]
pub struct Telegram(pub Arc<Mutex<Behaviour>>);

impl Respond for Telegram {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let chat = match &body["chat_id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        let mut state = self.0.lock().unwrap();
        *state.asked.entry(chat.clone()).or_default() += 1;
        if state.blocked.contains(&chat) {
            return ResponseTemplate::new(403).set_body_json(json!({"ok": false,
                "error_code": 403, "description": "Forbidden: bot was blocked by the user"}));
        }
        if let Some(left) = state.flaky.get_mut(&chat).filter(|left| **left > 0) {
            *left -= 1;
            return ResponseTemplate::new(500).set_body_json(json!({"ok": false,
                "error_code": 500, "description": "Internal Server Error"}));
        }
        state.sent.push((chat.clone(), Instant::now()));
        let n = state.sent.len();
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
            "message_id": n, "date": 1_733_000_000,
            "chat": {"id": chat.parse::<i64>().unwrap_or_default(), "type": "private"},
            "text": body["text"]}}))
    }
}

impl Telegram {
    pub async fn start() -> (MockServer, Telegram) {
        let server = MockServer::start().await;
        let fake = Telegram::default();
        let bot = format!("/bot{BOT_TOKEN}");
        Mock::given(method("POST"))
            .and(path(format!("{bot}/getMe")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
                "result": {"id": 424242, "is_bot": true, "first_name": "Acme", "username": "acme_bot"}})))
            .mount(&server)
            .await;
        for call in ["setWebhook", "deleteWebhook"] {
            Mock::given(method("POST"))
                .and(path(format!("{bot}/{call}")))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})),
                )
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path_regex(r"^/bot[^/]+/sendMessage$"))
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    /// How many sends each chat received (answered 200).
    pub fn received(&self) -> HashMap<String, usize> {
        let mut by_chat = HashMap::new();
        for (chat, _) in &self.0.lock().unwrap().sent {
            *by_chat.entry(chat.clone()).or_default() += 1;
        }
        by_chat
    }

    pub fn sent_count(&self) -> usize {
        self.0.lock().unwrap().sent.len()
    }

    pub fn asked(&self, chat: &str) -> usize {
        self.0.lock().unwrap().asked.get(chat).copied().unwrap_or(0)
    }

    pub fn times(&self) -> Vec<Instant> {
        self.0
            .lock()
            .unwrap()
            .sent
            .iter()
            .map(|(_, at)| *at)
            .collect()
    }
}
