//! DESIGN.md's subscription rule in one place: the first events are the current state (or,
//! with `after`, what the client missed, read from the database); then every change in order,
//! each exactly once. A gap in sequences, a lag behind the channel, or a lost link between
//! instances is filled from the database, never skipped.

use async_trait::async_trait;
use futures_util::Stream;

use super::{Event, EventBus, Received};
use crate::error::AppResult;

#[async_trait]
pub trait Timeline: Send + Sync + 'static {
    type Item: Event;

    fn topic(&self) -> String;

    /// The current state, as the items a new subscriber sees first (ascending sequence).
    async fn snapshot(&self) -> AppResult<Vec<Self::Item>>;

    /// Every item with a sequence above `sequence`, ascending.
    async fn after(&self, sequence: i64) -> AppResult<Vec<Self::Item>>;

    /// Whether nothing can follow this item, so the stream may end after it.
    fn is_final(&self, _item: &Self::Item) -> bool {
        false
    }

    /// For a timeline whose end is not one of its own items: a topic whose events may mean it
    /// is complete, checked then with [`Timeline::is_complete`].
    fn completion_topic(&self) -> Option<String> {
        None
    }

    /// Whether nothing will be added after what is stored now.
    async fn is_complete(&self) -> AppResult<bool> {
        Ok(false)
    }
}

/// What woke a follower up.
enum Wake {
    Received(Received),
    /// Something happened on the completion topic.
    MaybeComplete,
    /// The timeline is complete: what is stored now is all there is.
    Complete,
    /// Nothing came for a while: the database is read in case an announcement was lost.
    Recheck,
}

/// Counts open subscriptions for `/metrics` while the stream lives.
struct OpenSubscription;

impl OpenSubscription {
    fn new() -> Self {
        metrics::gauge!("switchboard_subscriptions_open").increment(1.0);
        Self
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        metrics::gauge!("switchboard_subscriptions_open").decrement(1.0);
    }
}

pub fn follow<T: Timeline>(
    bus: EventBus,
    timeline: T,
    after: Option<i64>,
    recheck_every: std::time::Duration,
) -> impl Stream<Item = AppResult<T::Item>> + Send {
    async_stream::try_stream! {
        // Spread over half a period, so that subscriptions made together do not all read the
        // database at the same moment.
        use rand::Rng;
        let spread = recheck_every.mul_f64(rand::rng().random_range(0.0..0.5));
        let mut recheck = tokio::time::interval_at(
            tokio::time::Instant::now() + recheck_every + spread,
            recheck_every,
        );
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = tokio::time::Instant::now();
        let _open = OpenSubscription::new();
        // Subscribe before reading the database, so a change committed in between is seen
        // on the channel (and dropped there as already sent) rather than lost.
        let mut receiver = bus.subscribe(&timeline.topic());
        let mut completion = timeline.completion_topic().map(|topic| bus.subscribe(&topic));
        let first = match after {
            None => timeline.snapshot().await?,
            Some(sequence) => timeline.after(sequence).await?,
        };
        let mut last = after.unwrap_or(0);
        // A client that reconnects having seen the end (a final status) has nothing to wait
        // for. (A timeline with a completion topic finds its end below.)
        let mut finished = match after {
            Some(seen) if first.is_empty() && completion.is_none() => timeline
                .snapshot()
                .await?
                .last()
                .is_some_and(|item| item.sequence() <= seen && timeline.is_final(item)),
            _ => false,
        };
        for item in first {
            if item.sequence() > last {
                last = item.sequence();
                finished = timeline.is_final(&item);
                yield item;
            }
        }
        let mut complete = completion.is_some() && timeline.is_complete().await?;
        while !finished {
            let wake = match &mut completion {
                _ if complete => Wake::Complete,
                None => tokio::select! {
                    received = receiver.recv() => Wake::Received(received),
                    _ = recheck.tick() => Wake::Recheck,
                },
                Some(completion) => tokio::select! {
                    received = receiver.recv() => Wake::Received(received),
                    _ = completion.recv() => Wake::MaybeComplete,
                    _ = recheck.tick() => Wake::Recheck,
                },
            };
            if matches!(wake, Wake::Received(_)) {
                heard = tokio::time::Instant::now();
            }
            let next = match wake {
                Wake::MaybeComplete => {
                    complete = timeline.is_complete().await?;
                    continue;
                }
                // Only a quiet subscription is checked: one that hears events would learn
                // of a lost one from the next one's gap.
                Wake::Recheck if heard.elapsed() < recheck_every => continue,
                Wake::Recheck => {
                    heard = tokio::time::Instant::now();
                    if completion.is_some() {
                        complete = timeline.is_complete().await?;
                    }
                    None
                }
                Wake::Received(Received::Event(envelope)) if envelope.sequence <= last => continue,
                Wake::Received(Received::Event(envelope)) if envelope.sequence == last + 1 => {
                    envelope.decode::<T::Item>().map(|item| vec![item])
                }
                // A gap, a payload too large to travel, a lag, a lost link, or the end.
                Wake::Received(_) | Wake::Complete => None,
            };
            let items = match next {
                Some(items) => items,
                None => timeline.after(last).await?,
            };
            for item in items {
                if item.sequence() > last {
                    last = item.sequence();
                    finished = timeline.is_final(&item);
                    yield item;
                    if finished {
                        break;
                    }
                }
            }
            finished |= complete;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures_util::StreamExt;

    use super::*;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Step {
        seq: i64,
    }

    impl Event for Step {
        fn topic(&self) -> String {
            "steps".into()
        }
        fn sequence(&self) -> i64 {
            self.seq
        }
    }

    /// A timeline whose "database" is a vector the test appends to.
    #[derive(Clone, Default)]
    struct Stored(Arc<Mutex<Vec<Step>>>);

    impl Stored {
        fn append(&self, seq: i64) -> Step {
            let step = Step { seq };
            self.0.lock().unwrap().push(step.clone());
            step
        }
    }

    #[async_trait]
    impl Timeline for Stored {
        type Item = Step;
        fn topic(&self) -> String {
            "steps".into()
        }
        async fn snapshot(&self) -> AppResult<Vec<Step>> {
            Ok(self.0.lock().unwrap().last().cloned().into_iter().collect())
        }
        async fn after(&self, sequence: i64) -> AppResult<Vec<Step>> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.seq > sequence)
                .cloned()
                .collect())
        }
        fn is_final(&self, item: &Step) -> bool {
            item.seq == 10
        }
    }

    /// Longer than any test: only events move these followers.
    const NO_RECHECK: std::time::Duration = std::time::Duration::from_secs(3600);

    async fn collect(stream: impl Stream<Item = AppResult<Step>>) -> Vec<i64> {
        stream.map(|s| s.unwrap().seq).collect().await
    }

    #[tokio::test]
    async fn starts_with_the_current_state_then_follows_changes() {
        let bus = EventBus::local(64);
        let stored = Stored::default();
        for seq in 1..=3 {
            stored.append(seq);
        }
        let stream = follow(bus.clone(), stored.clone(), None, NO_RECHECK);
        let handle = tokio::spawn(collect(stream));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for seq in 4..=10 {
            bus.publish(stored.append(seq)).await;
        }
        assert_eq!(handle.await.unwrap(), vec![3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[tokio::test]
    async fn resuming_after_a_sequence_replays_what_was_missed() {
        let bus = EventBus::local(64);
        let stored = Stored::default();
        for seq in 1..=6 {
            stored.append(seq);
        }
        let handle = tokio::spawn(collect(follow(
            bus.clone(),
            stored.clone(),
            Some(2),
            NO_RECHECK,
        )));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for seq in 7..=10 {
            bus.publish(stored.append(seq)).await;
        }
        assert_eq!(handle.await.unwrap(), (3..=10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_change_whose_announcement_was_lost_arrives_at_the_next_recheck() {
        let bus = EventBus::local(64);
        let stored = Stored::default();
        stored.append(1);
        let every = std::time::Duration::from_millis(50);
        let mut stream = Box::pin(follow(bus.clone(), stored.clone(), None, every));
        assert_eq!(stream.next().await.unwrap().unwrap().seq, 1);
        // Committed, never published (its instance died before the NOTIFY): nothing else
        // will ever come, and it is the end.
        stored.append(10);
        let rest = tokio::time::timeout(std::time::Duration::from_secs(5), collect(stream))
            .await
            .expect("read from storage at the recheck");
        assert_eq!(rest, vec![10]);
    }

    #[tokio::test]
    async fn a_gap_or_a_lag_is_filled_from_storage_not_skipped() {
        // A two-slot channel and events published while the subscriber is not reading.
        let bus = EventBus::local(2);
        let stored = Stored::default();
        stored.append(1);
        let mut stream = Box::pin(follow(bus.clone(), stored.clone(), None, NO_RECHECK));
        assert_eq!(stream.next().await.unwrap().unwrap().seq, 1);
        for seq in 2..=8 {
            bus.publish(stored.append(seq)).await;
        }
        // Stored but never published: only the database knows about 9.
        stored.append(9);
        bus.publish(stored.append(10)).await;
        assert_eq!(collect(stream).await, (2..=10).collect::<Vec<_>>());
    }

    /// [`Stored`] whose end is announced on another topic, as a transcript's is by its bot.
    #[derive(Clone, Default)]
    struct Ending {
        stored: Stored,
        over: Arc<std::sync::atomic::AtomicBool>,
    }

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Over;

    impl Event for Over {
        fn topic(&self) -> String {
            "over".into()
        }
        fn sequence(&self) -> i64 {
            1
        }
    }

    #[async_trait]
    impl Timeline for Ending {
        type Item = Step;
        fn topic(&self) -> String {
            self.stored.topic()
        }
        async fn snapshot(&self) -> AppResult<Vec<Step>> {
            self.stored.after(0).await
        }
        async fn after(&self, sequence: i64) -> AppResult<Vec<Step>> {
            self.stored.after(sequence).await
        }
        fn completion_topic(&self) -> Option<String> {
            Some("over".into())
        }
        async fn is_complete(&self) -> AppResult<bool> {
            Ok(self.over.load(std::sync::atomic::Ordering::SeqCst))
        }
    }

    #[tokio::test]
    async fn a_timeline_completed_elsewhere_ends_after_everything_stored() {
        let bus = EventBus::local(64);
        let ending = Ending::default();
        ending.stored.append(1);
        let mut stream = Box::pin(follow(bus.clone(), ending.clone(), None, NO_RECHECK));
        assert_eq!(stream.next().await.unwrap().unwrap().seq, 1);
        bus.publish(ending.stored.append(2)).await;
        // Stored but never published, then the end is announced.
        ending.stored.append(3);
        bus.publish(Over).await;
        let unrelated = tokio::time::timeout(std::time::Duration::from_millis(50), stream.next());
        assert_eq!(
            unrelated.await.unwrap().unwrap().unwrap().seq,
            2,
            "an announcement while not complete changes nothing"
        );
        ending.over.store(true, std::sync::atomic::Ordering::SeqCst);
        bus.publish(Over).await;
        assert_eq!(collect(stream).await, vec![3]);
    }

    #[tokio::test]
    async fn a_timeline_already_complete_ends_after_its_stored_items() {
        let bus = EventBus::local(64);
        let ending = Ending::default();
        for seq in 1..=3 {
            ending.stored.append(seq);
        }
        ending.over.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            collect(follow(bus.clone(), ending.clone(), None, NO_RECHECK)).await,
            vec![1, 2, 3]
        );
        assert_eq!(
            collect(follow(bus, ending, Some(1), NO_RECHECK)).await,
            vec![2, 3]
        );
    }
}
