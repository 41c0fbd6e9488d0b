//! Simulated sending for `--sandbox`: nothing leaves this machine. Each send is answered with
//! a made-up id and remembered (the latest [`KEPT`]), so a demo or a test can see what an
//! agent would have said.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ChannelAccount, Messenger, ProviderError, SentMessage};

/// How many sends the sandbox remembers; older ones are forgotten first.
pub const KEPT: usize = 1000;

/// A message the sandbox pretended to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub channel: &'static str,
    pub to: String,
    pub text: String,
    pub provider_message_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct SandboxMessenger {
    sent: Mutex<VecDeque<Outgoing>>,
}

impl SandboxMessenger {
    /// What was sent, oldest first.
    pub fn sent(&self) -> Vec<Outgoing> {
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter().cloned().collect()
    }
}

#[async_trait]
impl Messenger for SandboxMessenger {
    async fn send_text(
        &self,
        account: &ChannelAccount,
        to: &str,
        text: &str,
    ) -> Result<SentMessage, ProviderError> {
        let id = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
        tracing::info!(channel = account.channel(), to, message = %id, "sandbox messenger: simulated send");
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() == KEPT {
            sent.pop_front();
        }
        sent.push_back(Outgoing {
            channel: account.channel(),
            to: to.to_string(),
            text: text.to_string(),
            provider_message_id: id.clone(),
            at: Utc::now(),
        });
        Ok(SentMessage {
            provider_message_id: id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::messaging::Secret;

    #[tokio::test]
    async fn the_sandbox_remembers_only_the_latest_sends() {
        let sandbox = SandboxMessenger::default();
        let account = ChannelAccount::Instagram {
            account_id: "1784".into(),
            access_token: Secret::new("token"),
        };
        for n in 0..KEPT + 5 {
            sandbox
                .send_text(&account, "1254", &format!("message {n}"))
                .await
                .unwrap();
        }
        let sent = sandbox.sent();
        assert_eq!(sent.len(), KEPT);
        assert_eq!(sent[0].text, "message 5");
        assert_eq!(sent[KEPT - 1].text, format!("message {}", KEPT + 4));
        assert_ne!(sent[0].provider_message_id, sent[1].provider_message_id);
    }
}
