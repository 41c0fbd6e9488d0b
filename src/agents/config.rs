//! The agents' settings that are the server's rather than each agent's.

use anyhow::bail;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct AgentsConfig {
    /// A customer's message scoring at or under this (−1..0) is very negative: an agent that
    /// escalates on very negative messages hands the conversation to a person.
    #[arg(
        long = "sentiment-very-negative",
        env = "SENTIMENT_VERY_NEGATIVE",
        default_value_t = -0.75,
        allow_negative_numbers = true
    )]
    pub very_negative: f64,
    /// How many earlier messages of the conversation the agent's model sees.
    #[arg(
        long = "agent-history-messages",
        env = "AGENT_HISTORY_MESSAGES",
        default_value_t = 20
    )]
    pub history_messages: u64,
    /// Attempts at answering a message (the LLM or the channel failing) before the failure
    /// is recorded on the conversation.
    #[arg(
        long = "agent-reply-max-attempts",
        env = "AGENT_REPLY_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub reply_max_attempts: u32,
}

impl AgentsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(-1.0..=0.0).contains(&self.very_negative) {
            bail!("SENTIMENT_VERY_NEGATIVE must be between -1 and 0");
        }
        if self.history_messages > 200 {
            bail!("AGENT_HISTORY_MESSAGES must be at most 200");
        }
        if self.reply_max_attempts == 0 {
            bail!("AGENT_REPLY_MAX_ATTEMPTS must be at least 1");
        }
        Ok(())
    }
}
