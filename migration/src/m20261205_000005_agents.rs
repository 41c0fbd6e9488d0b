//! AI agents, the channel integrations that bind them to Telegram, WhatsApp and Instagram,
//! the conversations those carry with their messages, and each agent's event log (alerts,
//! escalations, manual-mode and integration changes) that `agentEvents` replays.

use sea_orm_migration::{prelude::*, schema::*};

use crate::shape::{cascade, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("agents")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("name"))
                    .col(string_null("model"))
                    // Sealed (secrets.rs); absent means the server's own key.
                    .col(text_null("api_key"))
                    .col(text_null("base_url"))
                    .col(text("system_prompt"))
                    .col(boolean("is_active"))
                    .col(text("settings"))
                    // The sequence of the agent's latest event.
                    .col(big_integer("event_sequence").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("deleted_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_agents_org_created",
            "agents",
            &["org_id", "created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("integrations")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("agent_id"))
                    .col(string("kind"))
                    .col(string("name"))
                    // The channel's own id for the account (Telegram bot id, phone_number_id,
                    // Instagram account id): how an inbound message finds its integration.
                    .col(string_null("identity"))
                    // `kind:identity` while connected: one integration per account at a time.
                    .col(string_null("active_identity").unique_key())
                    // Sealed JSON of the account's credentials.
                    .col(text("credentials"))
                    .col(string("mode"))
                    .col(string("state"))
                    .col(text_null("state_reason"))
                    .col(big_integer_null("poll_offset"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade("integrations", "agent_id", "agents"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_integrations_org_agent",
            "integrations",
            &["org_id", "agent_id"],
            false,
        )
        .await?;
        index(
            manager,
            "idx_integrations_kind_identity",
            "integrations",
            &["kind", "identity"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("conversations")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("org_id"))
                    .col(string("agent_id"))
                    .col(string("integration_id"))
                    .col(string("channel"))
                    .col(string("remote_user_id"))
                    .col(string_null("remote_user_name"))
                    .col(string("chat_id"))
                    .col(boolean("manual_mode"))
                    // The sequence of its latest change (a message stored or updated).
                    .col(big_integer("last_sequence"))
                    .col(big_integer("message_count"))
                    .col(string_null("last_role"))
                    .col(timestamp_with_time_zone("last_message_at"))
                    // The day (in the agent's time zone) the away message was last sent.
                    .col(string_null("away_sent_on"))
                    // Follow-ups sent since the customer last wrote (the claim's condition).
                    .col(big_integer("follow_ups_sent").default(0))
                    .col(text_null("failure"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade("conversations", "agent_id", "agents"))
                    .foreign_key(&mut cascade(
                        "conversations",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_conversations_remote_user",
            "conversations",
            &["integration_id", "remote_user_id"],
            true,
        )
        .await?;
        index(
            manager,
            "idx_conversations_org_last",
            "conversations",
            &["org_id", "last_message_at", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "idx_conversations_agent_last",
            "conversations",
            &["agent_id", "last_message_at", "id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("conversation_id"))
                    .col(string("org_id"))
                    .col(string("integration_id"))
                    // Its place in the conversation, from 1.
                    .col(big_integer("position"))
                    // The conversation's sequence at its latest change: a subscriber that
                    // resumes after a sequence gets every message stored or updated since.
                    .col(big_integer("sequence"))
                    .col(string("role"))
                    .col(text("text"))
                    .col(text_null("original_text"))
                    .col(string_null("language"))
                    .col(double_null("sentiment"))
                    .col(string_null("provider_message_id"))
                    .col(string("delivery"))
                    .col(text_null("delivery_error"))
                    .col(string_null("author"))
                    // The customer's message this answers: one reply per message.
                    .col(string_null("reply_to"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade("messages", "conversation_id", "conversations"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_messages_conversation_sequence",
            "messages",
            &["conversation_id", "sequence"],
            true,
        )
        .await?;
        index(
            manager,
            "idx_messages_conversation_position",
            "messages",
            &["conversation_id", "position"],
            true,
        )
        .await?;
        index(
            manager,
            "idx_messages_reply_to",
            "messages",
            &["reply_to"],
            true,
        )
        .await?;
        // A provider's resend of the same message is dropped here.
        index(
            manager,
            "idx_messages_provider_id",
            "messages",
            &["integration_id", "provider_message_id"],
            true,
        )
        .await?;
        index(
            manager,
            "idx_messages_org_created",
            "messages",
            &["org_id", "created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("conversation_notes")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("conversation_id"))
                    .col(string("org_id"))
                    .col(string("author"))
                    .col(text("text"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut cascade(
                        "conversation_notes",
                        "conversation_id",
                        "conversations",
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_conversation_notes_conversation",
            "conversation_notes",
            &["conversation_id", "created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("agent_events")
                    .if_not_exists()
                    .col(string("agent_id"))
                    .col(big_integer("sequence"))
                    .col(string("org_id"))
                    .col(string("kind"))
                    .col(string_null("conversation_id"))
                    .col(string_null("integration_id"))
                    .col(text("detail"))
                    .col(timestamp_with_time_zone("at"))
                    .primary_key(Index::create().col("agent_id").col("sequence"))
                    .foreign_key(&mut cascade("agent_events", "agent_id", "agents"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "agent_events",
            "conversation_notes",
            "messages",
            "conversations",
            "integrations",
            "agents",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
