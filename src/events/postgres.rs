//! Events across instances: each instance NOTIFYs what it publishes and LISTENs for the
//! others'. An instance ignores its own notifications (it delivered them in process).

use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::sqlx::PgPool;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Envelope, Inner, Payload};

/// NOTIFY payloads must stay under 8000 bytes; larger events travel as "read the database".
const MAX_INLINE_PAYLOAD: usize = 7000;

#[derive(Clone)]
pub(super) struct Remote {
    pool: PgPool,
    channel: Arc<str>,
    origin: Arc<str>,
}

#[derive(Serialize, Deserialize)]
struct Notification {
    origin: String,
    topic: String,
    sequence: i64,
    payload: Option<serde_json::Value>,
}

impl Remote {
    pub(super) fn new(pool: PgPool, channel: &str) -> Self {
        Self {
            pool,
            channel: channel.into(),
            origin: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    pub(super) async fn notify<E: Serialize>(&self, topic: &str, sequence: i64, event: &E) {
        let mut payload = serde_json::to_value(event).ok();
        let mut note = Notification {
            origin: self.origin.to_string(),
            topic: topic.to_string(),
            sequence,
            payload: payload.take(),
        };
        let mut text = serde_json::to_string(&note).unwrap_or_default();
        if text.len() > MAX_INLINE_PAYLOAD {
            note.payload = None;
            text = serde_json::to_string(&note).unwrap_or_default();
        }
        let sent = sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.channel)
            .bind(text)
            .execute(&self.pool)
            .await;
        if let Err(err) = sent {
            // Remote subscribers find the gap at the next event and read the database.
            tracing::warn!(error = %err, topic, "could not NOTIFY other instances");
        }
    }

    /// Starts listening before returning, so nothing published after start-up is missed.
    pub(super) async fn listen(
        &self,
        bus: Weak<Inner>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        let origin = self.origin.clone();
        tokio::spawn(async move {
            loop {
                // Cancelling `try_recv` could drop a half-read message, so it is only ever
                // cancelled at shutdown.
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    received = listener.try_recv() => received,
                };
                let Some(bus) = bus.upgrade() else { return };
                match received {
                    Ok(Some(notification)) => {
                        let Ok(note) = serde_json::from_str::<Notification>(notification.payload())
                        else {
                            continue;
                        };
                        if note.origin == *origin {
                            continue;
                        }
                        bus.deliver(
                            &note.topic,
                            Envelope {
                                sequence: note.sequence,
                                payload: Payload::Remote(note.payload),
                            },
                        );
                    }
                    // The connection dropped and was re-established: anything in between is lost.
                    Ok(None) => bus.resync_all(),
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener lost Postgres; reconnecting");
                        bus.resync_all();
                        drop(bus);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }
}
