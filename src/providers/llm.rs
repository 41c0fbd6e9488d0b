//! OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp all speak it), asked
//! for a JSON object.

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
        let url = format!(
            "{}/chat/completions",
            self.base.as_str().trim_end_matches('/')
        );
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "response_format": {"type": "json_object"},
        });
        if let Some(temperature) = self.temperature {
            body["temperature"] = json!(temperature);
        }
        let mut request = self.client.post(url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let completion: Completion = http::json(SERVICE, request).await?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| ProviderError::new(SERVICE, "answered with no message"))?;
        crate::input::provider_json(strip_fences(&content).as_bytes()).map_err(|err| {
            ProviderError::new(SERVICE, format!("answer is not a JSON object: {err}"))
        })
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
