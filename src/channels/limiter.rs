//! One rate limit per integration, shared by everything that sends from it (replies, manager
//! messages, follow-ups, broadcasts) on every instance: GCRA whose theoretical arrival time
//! lives in `send_budgets`. An instance reserves a few slots with one atomic update and paces
//! its sends to them locally, so a thousand sends a second do not take a thousand round trips:
//! a reservation starts at one slot and doubles while the slots keep running out, up to
//! [`WINDOW_US`] worth. Unused capacity is credited for at most that window (GCRA's burst
//! tolerance), so the reservation's own round trip costs no rate.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::entity::IntegrationKind;
use super::store::Integration;
use crate::db::placeholders;
use crate::services::Services;

/// The most one reservation takes, and the burst a quiet integration may send at once.
const WINDOW_US: i64 = 50_000;

/// Proof that a slot of the integration's budget was taken: what a send needs.
pub struct SendPermit(());

/// This instance's reserved slots, per integration.
#[derive(Default)]
pub struct Limiters(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slots>>>>);

#[derive(Default)]
struct Slots {
    /// Times (µs since the epoch) this instance may send at, earliest first.
    ready: VecDeque<i64>,
    /// The size of the last reservation, and when its last slot was due.
    last_size: usize,
    last_due: i64,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The rate `integration` sends at, in messages per second.
pub fn rate(s: &Services, integration: &Integration) -> f64 {
    let config = &s.config.channels;
    let per_sec = match integration.kind {
        IntegrationKind::Telegram => config.telegram_send_rate,
        IntegrationKind::WhatsappCloud => config.whatsapp_send_rate,
        IntegrationKind::Instagram => config.instagram_send_rate,
        IntegrationKind::Sandbox => config.sandbox_send_rate,
        IntegrationKind::WhatsappDevice => config.whatsapp_device_send_rate,
    };
    f64::from(per_sec.max(1))
}

/// Waits for the next slot of `integration`'s budget. Never fails: when the database cannot
/// be asked, this instance paces on its own rather than stop sending.
pub async fn permit(s: &Services, integration: &Integration) -> SendPermit {
    let slots = {
        let limiters = s.locals.get::<Limiters>();
        let mut by_integration = limiters.0.lock().unwrap_or_else(|e| e.into_inner());
        by_integration
            .entry(integration.id.clone())
            .or_default()
            .clone()
    };
    let interval = 1_000_000.0 / rate(s, integration);
    let due = {
        let mut slots = slots.lock().await;
        let now = now_us();
        // Slots left unused past the burst window are gone, as GCRA would have them.
        while slots.ready.front().is_some_and(|at| *at < now - WINDOW_US) {
            slots.ready.pop_front();
        }
        if slots.ready.is_empty() {
            let most = ((WINDOW_US as f64 / interval) as usize).max(1);
            // Demand kept up with the last reservation: take twice as many.
            let size = if slots.last_due >= now - WINDOW_US {
                (slots.last_size * 2).clamp(1, most)
            } else {
                1
            };
            let start = reserve(s, &integration.id, size, interval, now)
                .await
                .unwrap_or_else(|| now.max(slots.last_due + interval.round() as i64));
            slots.ready = (0..size)
                .map(|i| start + (i as f64 * interval).round() as i64)
                .collect();
            slots.last_size = size;
            slots.last_due = slots.ready.back().copied().unwrap_or(now);
        }
        slots.ready.pop_front().unwrap_or(now)
    };
    let wait = due - now_us();
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait as u64)).await;
    }
    SendPermit(())
}

/// Takes `size` slots from the shared budget; answers when the first is due (`None` when the
/// database could not be asked).
async fn reserve(
    s: &Services,
    integration_id: &str,
    size: usize,
    interval: f64,
    now: i64,
) -> Option<i64> {
    let span = (size as f64 * interval).round() as i64;
    let backend = s.db.get_database_backend();
    let greatest = match backend {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    };
    let sql = format!(
        "INSERT INTO send_budgets (integration_id, tat_us) VALUES ($1, $2 + $3) \
         ON CONFLICT (integration_id) DO UPDATE SET tat_us = {greatest}(send_budgets.tat_us, $2) + $3 \
         RETURNING tat_us"
    );
    let statement = Statement::from_sql_and_values(
        backend,
        placeholders(backend, &sql),
        [integration_id.into(), (now - WINDOW_US).into(), span.into()],
    );
    let answered = match s.db.query_one_raw(statement).await {
        Ok(row) => row.and_then(|row| row.try_get::<i64>("", "tat_us").ok()),
        Err(err) => {
            tracing::warn!(error = %err, "could not reserve from the send budget; pacing locally");
            None
        }
    };
    answered.map(|tat| tat - span)
}
