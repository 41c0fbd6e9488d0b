//! The event bus. Services publish typed events after they commit; each event goes only to
//! the subscribers of its topic (one bounded broadcast channel per topic, made when the first
//! subscriber arrives and dropped with the last). On Postgres, events also cross instances
//! through LISTEN/NOTIFY.

mod follow;
mod postgres;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::broadcast;

pub use follow::{follow, Timeline};

/// An event a subscriber can follow: it belongs to one topic (usually one entity) and has
/// that entity's sequence number, 1, 2, 3, … with no gaps.
pub trait Event: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    fn topic(&self) -> String;
    fn sequence(&self) -> i64;
}

pub enum Payload {
    /// Published in this process: the typed value itself.
    Local(Arc<dyn Any + Send + Sync>),
    /// Came from another instance. `None` when it was too large for a NOTIFY: subscribers
    /// read it from the database instead.
    Remote(Option<serde_json::Value>),
    /// Events may have been missed (the cross-instance link dropped): read the database.
    Resync,
}

pub struct Envelope {
    pub sequence: i64,
    pub payload: Payload,
}

impl Envelope {
    /// The typed event, when the envelope carries one of type `E`.
    pub fn decode<E: Event>(&self) -> Option<E> {
        match &self.payload {
            Payload::Local(any) => any.downcast_ref::<E>().cloned(),
            Payload::Remote(Some(json)) => serde_json::from_value(json.clone()).ok(),
            Payload::Remote(None) | Payload::Resync => None,
        }
    }
}

type Topics = Mutex<HashMap<String, broadcast::Sender<Arc<Envelope>>>>;

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    topics: Topics,
    capacity: usize,
    remote: Option<postgres::Remote>,
}

impl EventBus {
    /// A bus for one process.
    pub fn local(capacity: usize) -> Self {
        Self::build(capacity, None)
    }

    /// A bus that also carries events to and from other instances on the same Postgres
    /// database. The listener runs until `shutdown` or until the bus is dropped.
    pub async fn postgres(
        capacity: usize,
        pool: sea_orm::sqlx::PgPool,
        channel: &str,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<Self> {
        let remote = postgres::Remote::new(pool, channel);
        let bus = Self::build(capacity, Some(remote.clone()));
        remote.listen(Arc::downgrade(&bus.inner), shutdown).await?;
        Ok(bus)
    }

    fn build(capacity: usize, remote: Option<postgres::Remote>) -> Self {
        Self {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                capacity,
                remote,
            }),
        }
    }

    /// Delivers to this instance's subscribers at once and, on Postgres, to the others.
    /// Call it after the change is committed: subscribers read the database on a gap.
    pub async fn publish<E: Event>(&self, event: E) {
        let topic = event.topic();
        let sequence = event.sequence();
        let event = Arc::new(event);
        // This instance's subscribers first: they need not wait for the NOTIFY's round trip.
        self.inner.deliver(
            &topic,
            Envelope {
                sequence,
                payload: Payload::Local(event.clone()),
            },
        );
        if let Some(remote) = &self.inner.remote {
            remote.notify(&topic, sequence, &*event).await;
        }
    }

    pub fn subscribe(&self, topic: &str) -> TopicReceiver {
        let mut topics = self.inner.topics.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = topics
            .entry(topic.to_string())
            .or_insert_with(|| broadcast::channel(self.inner.capacity).0)
            .subscribe();
        TopicReceiver {
            receiver: Some(receiver),
            topic: topic.to_string(),
            bus: self.clone(),
        }
    }

    /// Topics with at least one subscriber on this instance.
    pub fn topic_count(&self) -> usize {
        self.inner.topics.lock().map(|t| t.len()).unwrap_or(0)
    }
}

impl Inner {
    fn deliver(&self, topic: &str, envelope: Envelope) {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = topics.get(topic) {
            // An error only means nobody listens any more; the last receiver's drop removes
            // the topic.
            let _ = sender.send(Arc::new(envelope));
        }
    }

    fn resync_all(&self) {
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        for sender in topics.values() {
            let _ = sender.send(Arc::new(Envelope {
                sequence: i64::MAX,
                payload: Payload::Resync,
            }));
        }
    }
}

pub enum Received {
    Event(Arc<Envelope>),
    /// The subscriber fell behind the channel's buffer and missed events.
    Lagged,
}

pub struct TopicReceiver {
    receiver: Option<broadcast::Receiver<Arc<Envelope>>>,
    topic: String,
    bus: EventBus,
}

impl TopicReceiver {
    pub async fn recv(&mut self) -> Received {
        let receiver = self.receiver.as_mut().expect("receiver lives until drop");
        match receiver.recv().await {
            Ok(envelope) => Received::Event(envelope),
            Err(broadcast::error::RecvError::Lagged(_)) => Received::Lagged,
            // The bus keeps a sender while any receiver exists, so the channel cannot close;
            // treat it as a gap all the same.
            Err(broadcast::error::RecvError::Closed) => Received::Lagged,
        }
    }
}

impl Drop for TopicReceiver {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut topics = self
            .bus
            .inner
            .topics
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if topics
            .get(&self.topic)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Tick {
        id: String,
        seq: i64,
    }

    impl Event for Tick {
        fn topic(&self) -> String {
            format!("tick:{}", self.id)
        }
        fn sequence(&self) -> i64 {
            self.seq
        }
    }

    #[tokio::test]
    async fn an_event_reaches_only_its_topics_subscribers() {
        let bus = EventBus::local(8);
        let mut a = bus.subscribe("tick:a");
        let mut b = bus.subscribe("tick:b");
        bus.publish(Tick {
            id: "a".into(),
            seq: 1,
        })
        .await;
        let Received::Event(env) = a.recv().await else {
            panic!("expected an event")
        };
        assert_eq!(
            env.decode::<Tick>(),
            Some(Tick {
                id: "a".into(),
                seq: 1
            })
        );
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), b.recv()).await;
        assert!(nothing.is_err(), "topic b must not see topic a's event");
    }

    #[tokio::test]
    async fn a_topic_is_dropped_with_its_last_subscriber() {
        let bus = EventBus::local(8);
        let first = bus.subscribe("tick:x");
        let second = bus.subscribe("tick:x");
        assert_eq!(bus.topic_count(), 1);
        drop(first);
        assert_eq!(bus.topic_count(), 1);
        drop(second);
        assert_eq!(bus.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_so() {
        let bus = EventBus::local(2);
        let mut slow = bus.subscribe("tick:s");
        for seq in 1..=5 {
            bus.publish(Tick {
                id: "s".into(),
                seq,
            })
            .await;
        }
        assert!(matches!(slow.recv().await, Received::Lagged));
    }
}
