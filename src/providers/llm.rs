//! OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp all speak it): a JSON
//! object for structured extraction, or a reply in a conversation.

use async_trait::async_trait;
use reqwest::Client;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::http::{self, ProviderError};

const SERVICE: &str = "LLM";

#[async_trait]
pub trait Llm: Send + Sync + 'static {
    /// Answers `user` under `system` with a JSON object.
    async fn complete_json(
        &self,
        system: &str,
        user: &str,
    ) -> Result<serde_json::Value, ProviderError>;

    /// The next message of a conversation, as text.
    async fn chat(&self, turns: &[Turn]) -> Result<String, ProviderError>;
}

/// How every translation prompt begins (the sandbox LLM knows one by it).
pub const TRANSLATION_PROMPT_START: &str = "Translate the user's message";

/// The system prompt that has the model translate into `language` (ISO 639-1).
pub fn translation_prompt(language: &str) -> String {
    format!(
        "{TRANSLATION_PROMPT_START} into the language with ISO 639-1 code '{language}'. \
         Answer with the translation alone: no quotes, notes or explanations."
    )
}

/// One message of a conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Speaker,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    System,
    User,
    Assistant,
}

impl Turn {
    pub fn new(role: Speaker, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

impl Speaker {
    fn as_str(self) -> &'static str {
        match self {
            Speaker::System => "system",
            Speaker::User => "user",
            Speaker::Assistant => "assistant",
        }
    }
}

pub struct OpenAiChat {
    pub client: Client,
    pub base: Url,
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: Option<f64>,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[async_trait]
impl Llm for OpenAiChat {
    async fn complete_json(
        &self,
        system: &str,
        user: &str,
    ) -> Result<serde_json::Value, ProviderError> {
        let turns = [
            Turn::new(Speaker::System, system),
            Turn::new(Speaker::User, user),
        ];
        let content = self.complete(&turns, true).await?;
        crate::input::provider_json(strip_fences(&content).as_bytes()).map_err(|err| {
            ProviderError::new(SERVICE, format!("answer is not a JSON object: {err}"))
        })
    }

    async fn chat(&self, turns: &[Turn]) -> Result<String, ProviderError> {
        self.complete(turns, false).await
    }
}

impl OpenAiChat {
    /// The model's answer to `turns`; a JSON object when `json_object`.
    async fn complete(&self, turns: &[Turn], json_object: bool) -> Result<String, ProviderError> {
        let url = format!(
            "{}/chat/completions",
            self.base.as_str().trim_end_matches('/')
        );
        let messages: Vec<_> = turns
            .iter()
            .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content}))
            .collect();
        let mut body = json!({"model": self.model, "messages": messages});
        if json_object {
            body["response_format"] = json!({"type": "json_object"});
        }
        if let Some(temperature) = self.temperature {
            body["temperature"] = json!(temperature);
        }
        let mut request = self.client.post(url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let completion: Completion = http::json(SERVICE, request).await?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .filter(|content| !content.trim().is_empty())
            .ok_or_else(|| ProviderError::new(SERVICE, "answered with no message"))
    }
}

/// Some local models wrap JSON in a Markdown fence even when asked not to.
fn strip_fences(content: &str) -> &str {
    let trimmed = content.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fenced_json_is_unwrapped() {
        assert_eq!(super::strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(super::strip_fences(" {\"a\":1} "), "{\"a\":1}");
    }
}
