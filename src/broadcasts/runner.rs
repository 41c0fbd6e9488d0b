//! Every instance's broadcast work, until shutdown: start the broadcasts whose time has come
//! (on the server's clock), and run a sender for every broadcast being sent. Woken at once by
//! a broadcast created on this instance; otherwise it looks every BROADCAST_POLL_MS, which is
//! also how a restarted instance takes up what a stopped one left.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::entity::BroadcastStatus;
use super::{lifecycle, sender, store};
use crate::error::AppResult;
use crate::services::Services;

/// This instance's runner: its wake-up, and a stop for each broadcast it sends.
#[derive(Default)]
struct Local {
    wake: Notify,
    sending: Mutex<HashMap<String, CancellationToken>>,
}

/// Asks this instance's runner to look now.
pub fn wake(s: &Services) {
    s.locals.get::<Local>().wake.notify_one();
}

/// Stops this instance's sender of the broadcast, if it has one, between two sends.
pub fn stop_local(s: &Services, broadcast_id: &str) {
    let local = s.locals.get::<Local>();
    let sending = local.sending.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(stop) = sending.get(broadcast_id) {
        stop.cancel();
    }
}

pub async fn run(s: Services, shutdown: CancellationToken) {
    let local = s.locals.get::<Local>();
    let instance = format!("broadcasts-{}", uuid::Uuid::new_v4());
    let mut senders = JoinSet::new();
    loop {
        while senders.try_join_next().is_some() {}
        if let Err(err) = look(&s, &instance, &shutdown, &mut senders).await {
            tracing::warn!(error = ?err, "could not look for broadcasts to send");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = local.wake.notified() => {}
            _ = tokio::time::sleep(s.config.broadcasts.poll()) => {}
        }
    }
    // The senders' stops are the shutdown's children: they put back what they did not send.
    while senders.join_next().await.is_some() {}
}

async fn look(
    s: &Services,
    instance: &str,
    shutdown: &CancellationToken,
    senders: &mut JoinSet<()>,
) -> AppResult<()> {
    let waiting = [BroadcastStatus::Pending, BroadcastStatus::Scheduled];
    for due in store::due(&s.db, s.clock.now()).await? {
        lifecycle::apply(s, &due.id, &waiting, BroadcastStatus::Processing, None).await?;
    }
    let local = s.locals.get::<Local>();
    for broadcast in store::processing(&s.db).await? {
        let stop = {
            let mut sending = local.sending.lock().unwrap_or_else(|e| e.into_inner());
            if sending.contains_key(&broadcast.id) {
                continue;
            }
            let stop = shutdown.child_token();
            sending.insert(broadcast.id.clone(), stop.clone());
            stop
        };
        let (s, local, instance) = (s.clone(), local.clone(), instance.to_string());
        senders.spawn(async move {
            let id = broadcast.id.clone();
            sender::send(s, broadcast, instance, stop).await;
            let mut sending = local.sending.lock().unwrap_or_else(|e| e.into_inner());
            sending.remove(&id);
        });
    }
    Ok(())
}
