//! Which source woke a connection: its socket, its timers and shutdown token, or (by
//! elimination) one of its operations' frames.
//!
//! A wake-up for a frame then polls the operations alone: polling the socket (through
//! tungstenite), the timers and the token as well took about a fifth of the server's own (user)
//! CPU time when a change goes to a thousand subscribers, each one's state being cold in cache.
//! Those two are polled with wakers of their own, which mark them fired before waking the
//! task; the operations get the task's own waker, so a frame's wake-up costs nothing more than
//! it did.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

pub(super) const SOCKET: u8 = 1;
pub(super) const CONTROL: u8 = 2;
pub(super) const BOTH: u8 = SOCKET | CONTROL;

/// The wakers of a connection's socket and of its timers and token (see the module's doc).
pub(super) struct Sources {
    fired: Arc<Fired>,
    pub(super) socket: Waker,
    pub(super) control: Waker,
    /// Sources to poll again whatever fires: one that was ready may be ready again.
    pub(super) again: u8,
}

struct Fired {
    sources: AtomicU8,
    task: AtomicWaker,
}

struct SourceWaker {
    fired: Arc<Fired>,
    source: u8,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Marked before the task is woken, so the wake-up finds it.
        self.fired.sources.fetch_or(self.source, Ordering::AcqRel);
        self.fired.task.wake();
    }
}

impl Sources {
    pub(super) fn new() -> Self {
        let fired = Arc::new(Fired {
            sources: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        let waker = |source| {
            Waker::from(Arc::new(SourceWaker {
                fired: fired.clone(),
                source,
            }))
        };
        Self {
            socket: waker(SOCKET),
            control: waker(CONTROL),
            fired,
            again: BOTH,
        }
    }

    /// The sources besides the operations to poll now. The task's waker is registered
    /// first, so that a source firing from here on wakes the task again.
    pub(super) fn take_fired(&mut self, task: &Waker) -> u8 {
        self.fired.task.register(task);
        self.fired.sources.swap(0, Ordering::AcqRel) | std::mem::take(&mut self.again)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wake_up_reports_the_sources_that_fired_since_the_last_once() {
        let task = futures_util::task::noop_waker();
        let mut sources = Sources::new();
        assert_eq!(
            sources.take_fired(&task),
            BOTH,
            "the first turn polls everything"
        );
        assert_eq!(
            sources.take_fired(&task),
            0,
            "a frame's wake-up polls neither"
        );

        sources.socket.wake_by_ref();
        assert_eq!(sources.take_fired(&task), SOCKET);
        sources.control.wake_by_ref();
        sources.socket.wake_by_ref();
        assert_eq!(sources.take_fired(&task), BOTH);
        assert_eq!(sources.take_fired(&task), 0, "taken once");

        sources.again = CONTROL;
        assert_eq!(sources.take_fired(&task), CONTROL, "asked to poll again");
    }

    #[test]
    fn a_source_firing_wakes_the_task_that_polled_last() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(Default::default()));
        let task = Waker::from(count.clone());
        let mut sources = Sources::new();
        sources.take_fired(&task);
        sources.control.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
