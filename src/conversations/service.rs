//! The conversations commands. No GraphQL here.

use chrono::Utc;

use crate::auth::{Role, Viewer};
use crate::channels::{self, Inbound};
use crate::error::{AppError, AppResult};
use crate::providers::messaging::InboundMessage;
use crate::services::Services;

/// Sandbox mode only: plays a customer writing to one of the organisation's integrations,
/// through the same queue and pipeline a real channel's message takes.
pub async fn sandbox_customer_message(
    s: &Services,
    viewer: &Viewer,
    integration_id: &str,
    customer: &str,
    text: &str,
) -> AppResult<()> {
    if !s.config.sandbox {
        return Err(AppError::Forbidden(
            "sandboxSendCustomerMessage works only on a server run with --sandbox".into(),
        ));
    }
    viewer.require(Role::Manager)?;
    let integration = channels::get(&s.db, viewer, integration_id).await?;
    let customer = crate::input::line("customer", customer, 100)?;
    let text = crate::input::text("text", text, 4096)?;
    let message = InboundMessage {
        provider_message_id: format!("sandbox-{}", uuid::Uuid::new_v4()),
        remote_user_id: customer.clone(),
        remote_user_name: Some(customer.clone()),
        chat_id: customer,
        text,
        sent_at: Some(Utc::now()),
    };
    let inbound = Inbound {
        integration_id: integration.id,
        message,
    };
    s.jobs.enqueue(inbound.job(s)?).await?;
    s.jobs.wake();
    Ok(())
}
