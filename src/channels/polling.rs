//! Telegram long polling, for bots with no public https URL to post to: one poller per
//! connected POLLING bot, all on the one instance that leads, so no bot is asked twice at
//! once (Telegram refuses that with 409). Each page of updates is stored as jobs in the
//! transaction that moves the bot's offset past it: a crash before the commit asks for the
//! page again, one after it never does, so nothing is lost or repeated.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::credentials::Credentials;
use super::entity::{integration, IntegrationKind, IntegrationState, ReceiveMode};
use super::inbound::{self, Inbound};
use super::{lifecycle, remote, store};
use crate::db::Leader;
use crate::error::{AppError, AppResult};
use crate::services::Services;

/// The advisory lock's key: "SWBDTGPL" in ASCII.
const POLL_LOCK_KEY: i64 = 0x5357_4244_5447_504c;

/// Until shutdown: every pause, starts a poller for each bot that should be polled and
/// stops those that should not (disconnected, failed, or this instance no longer leads).
pub async fn keep_polling(s: Services, shutdown: CancellationToken) {
    if s.providers.messengers.telegram().is_none() {
        return;
    }
    let mut leader = Leader::new(&s.db, POLL_LOCK_KEY, "Telegram long polling");
    // Each poller with its generation, so a stopped one that ends late never removes the
    // entry of the one started after it.
    let mut pollers: HashMap<String, (u64, CancellationToken)> = HashMap::new();
    let mut running: JoinSet<(String, u64)> = JoinSet::new();
    let mut generation = 0;
    let mut ticker = tokio::time::interval(s.config.channels.poll_pause());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        while let Some(ended) = running.try_join_next() {
            if let Ok((id, ended_generation)) = ended {
                if pollers
                    .get(&id)
                    .is_some_and(|(g, _)| *g == ended_generation)
                {
                    pollers.remove(&id);
                }
            }
        }
        let wanted: HashSet<String> = if leader.lead().await {
            match store::polled(&s.db).await {
                Ok(bots) => bots.into_iter().map(|bot| bot.id).collect(),
                Err(err) => {
                    tracing::warn!(error = ?err, "could not list the Telegram bots to poll");
                    continue;
                }
            }
        } else {
            HashSet::new()
        };
        pollers.retain(|id, (_, stop)| {
            let keep = wanted.contains(id);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for id in wanted {
            if pollers.contains_key(&id) {
                continue;
            }
            generation += 1;
            let stop = shutdown.child_token();
            pollers.insert(id.clone(), (generation, stop.clone()));
            let (s, mine) = (s.clone(), generation);
            running.spawn(async move {
                poll_until(&s, &id, stop).await;
                (id, mine)
            });
        }
    }
    while running.join_next().await.is_some() {}
}

/// What one poll came to.
enum Polled {
    /// This many updates read and stored (those without a text message only confirmed).
    Updates(usize),
    /// The bot is no longer to be polled.
    Stopped,
}

async fn poll_until(s: &Services, id: &str, stop: CancellationToken) {
    let pause = s.config.channels.poll_pause();
    let timeout = Duration::from_secs(s.config.channels.telegram_poll_timeout_secs.into());
    loop {
        let started = Instant::now();
        let polled = tokio::select! {
            _ = stop.cancelled() => return,
            polled = poll_once(s, id) => polled,
        };
        let wait = match polled {
            Ok(Polled::Stopped) => return,
            Ok(Polled::Updates(0))
                if started.elapsed() < (timeout / 2).max(Duration::from_secs(1)) =>
            {
                pause
            }
            Ok(Polled::Updates(_)) => continue,
            Err(AppError::RateLimited {
                retry_after_secs: Some(secs),
                ..
            }) => Duration::from_secs(secs),
            Err(err) => {
                tracing::warn!(integration = %id, error = ?err, "Telegram poll failed; trying again");
                pause
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Asks for the updates after the stored offset, and stores them with the new offset.
/// A token Telegram refuses fails the integration.
async fn poll_once(s: &Services, id: &str) -> AppResult<Polled> {
    let found = store::load(&s.db, id).await?;
    let polled = found.kind == IntegrationKind::Telegram
        && found.mode == ReceiveMode::Polling
        && found.state == IntegrationState::Connected;
    let api = s.providers.messengers.telegram();
    let credentials = Credentials::open(s, &found)?;
    let (true, Some(api), Some(token)) = (polled, api, credentials.bot_token()) else {
        return Ok(Polled::Stopped);
    };
    let offset = found.poll_offset.map(|last| last + 1);
    let timeout = s.config.channels.telegram_poll_timeout_secs;
    let updates = match api.get_updates(&token, offset, timeout).await {
        Ok(updates) => updates,
        Err(err) if remote::token_refused(&err) => {
            let reason = format!(
                "Telegram refused the bot token ({}); connect the bot again with a valid one",
                err.describe()
            );
            lifecycle::fail(s, &found, reason).await?;
            return Ok(Polled::Stopped);
        }
        Err(err) => return Err(err.into()),
    };
    let Some(last) = updates.iter().map(|update| update.update_id).max() else {
        return Ok(Polled::Updates(0));
    };
    let read = updates.len();
    let jobs = updates
        .into_iter()
        .filter_map(|update| update.message.ok())
        .map(|message| {
            let integration_id = found.id.clone();
            Inbound {
                integration_id,
                message,
            }
            .job(s)
        })
        .collect::<AppResult<Vec<_>>>()?;
    let txn = crate::db::begin(&s.db).await?;
    inbound::enqueue_on(s, &txn, jobs).await?;
    let as_read = match found.poll_offset {
        Some(offset) => integration::Column::PollOffset.eq(offset),
        None => integration::Column::PollOffset.is_null(),
    };
    let moved = integration::Entity::update_many()
        .col_expr(integration::Column::PollOffset, Expr::value(last))
        .filter(integration::Column::Id.eq(&found.id))
        .filter(integration::Column::State.eq(IntegrationState::Connected))
        .filter(as_read)
        .exec(&txn)
        .await?;
    if moved.rows_affected == 0 {
        // Disconnected (or moved on) while Telegram was asked: the page stays unconfirmed.
        txn.rollback().await?;
        return Ok(Polled::Stopped);
    }
    txn.commit().await?;
    s.jobs.wake();
    Ok(Polled::Updates(read))
}
