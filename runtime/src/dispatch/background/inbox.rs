//! The queue between a background handler's senders and its drain task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering, fence};
use std::time::{Duration, Instant};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use event_listener::{Event as Signal, EventListener, Listener};
use tokio::sync::Notify;

use super::latch::Latch;
use crate::event::Event;

/// How many handled events may wait to be dropped by the thread that emits the next ones
/// (fewer if the queue is smaller): enough to cover the drain task's bursts, where it handles
/// what piled up while it slept. Bounded in count, not bytes (each keeps its payloads), so
/// they wait at most [`SPENT_GRACE`] once the handler has nothing left to do.
const SPENT_CAPACITY: usize = 256;

/// How long a drain task with nothing to do leaves handled events for an emitting thread to
/// drop before it drops them itself: past a burst, a quiet server must not keep its last
/// events' payloads for hours, and with no one emitting there is no allocator lock to share.
const SPENT_GRACE: Duration = Duration::from_millis(100);

pub(super) enum Message {
    Event(Arc<Event<'static>>),
    /// A flush's mark: the drain task reaching it has handled every event queued before.
    Flush(FlushMark),
}

/// Sets its latch when dropped: by the drain task that reached it, or with a queue that is
/// never drained again, so that no flush waits for a mark that is gone.
pub(super) struct FlushMark(Arc<Latch>);

impl Drop for FlushMark {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// The queue between a background handler's senders and its drain task, with the two
/// signals across it.
pub(super) struct Inbox {
    pub(super) queue: ConcurrentQueue<Message>,
    /// Handled events, handed back to be dropped by an emitting thread. An event's memory
    /// is allocated there; freeing it on the dispatch thread instead made the two threads
    /// contend for the allocator's lock on every event (glibc's arena mutex, a futex wait
    /// more often than not) and left the emitting thread's allocation cache empty. When it
    /// is full, with no one emitting to drain it, the drain task drops events itself.
    pub(super) spent: ConcurrentQueue<Arc<Event<'static>>>,
    /// Wakes the drain task, which drains everything queued before it waits again.
    pub(super) arrived: Notify,
    /// Set while the drain task waits (or is about to) for `arrived`. Senders notify only
    /// when it is set: a burst of events costs the traced code one wake-up of the dispatch
    /// thread instead of one per event, and an event sent while the drain task is busy costs
    /// it one read, while a lone event (a streamed token) still wakes it at once.
    pub(super) asleep: AtomicBool,
    /// Wakes senders waiting for room in a full queue.
    pub(super) room: Signal,
    /// How many senders listen to `room`: the drain task signals it only when one does, so
    /// a queue that never fills costs no lock on either side.
    pub(super) waiting: AtomicUsize,
    /// Events turned away: a full queue the sender would not or could not wait on, or a
    /// queue closed for good.
    pub(super) dropped: AtomicU64,
    pub(super) progress: Progress,
}

/// What the drain task tells flushes about itself. On a cache line of its own: the drain
/// task writes it on every event, and the senders, which read `asleep` on every event,
/// should not see their line move for it.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Progress {
    /// Set while the handler has an event in hand.
    pub(super) handling: AtomicBool,
    /// Flush marks in the queue, which are not events. Counted once queued, so the drain
    /// task may take one first: -1 for a moment.
    pub(super) marks: AtomicIsize,
    /// Flushes running inside this handler (see `flush::Flush::new`).
    pub(super) flushing: AtomicUsize,
    /// Set once the drain task is gone, however it ended.
    pub(super) ended: Latch,
}

/// What came of pushing with a deadline.
pub(super) enum Pushed {
    Sent,
    Closed,
    TimedOut,
}

/// What came of one try to push into a full-at-first queue.
pub(super) enum Push<'a> {
    Sent,
    Closed,
    /// Still full: `room` fires once a slot frees up.
    Full {
        message: Message,
        room: EventListener,
        /// Keeps the sender counted as waiting, so the drain task signals `room`: bind it
        /// for as long as the wait lasts, never to `_`, which would drop it at once.
        _waiting: Waiting<'a>,
    },
}

/// Counts a sender in [`Inbox::waiting`] while it lives.
pub(super) struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inbox {
    pub(super) fn new(capacity: usize) -> Arc<Inbox> {
        Arc::new(Inbox {
            queue: ConcurrentQueue::bounded(capacity),
            spent: ConcurrentQueue::bounded(capacity.min(SPENT_CAPACITY)),
            arrived: Notify::new(),
            asleep: AtomicBool::new(false),
            room: Signal::new(),
            waiting: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            progress: Progress::default(),
        })
    }

    pub(super) fn try_push(&self, message: Message) -> Result<(), PushError<Message>> {
        self.queue.push(message)?;
        // Pairs with the fence in `wait`: either the drain task sees this message before
        // it waits, or this sees it waiting and wakes it.
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed) && self.asleep.swap(false, Ordering::Relaxed) {
            self.arrived.notify_one();
        }
        Ok(())
    }

    /// Waits, on the drain task, until a message is queued.
    pub(super) async fn wait(&self) {
        self.asleep.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            self.arrived.notified().await;
        }
        self.asleep.store(false, Ordering::Relaxed);
    }

    /// Waits, on the drain task, until a message is queued, dropping the handled events
    /// still held for the emitting side once [`SPENT_GRACE`] passes without one.
    pub(super) async fn idle(&self) {
        if self.spent.is_empty() {
            return self.wait().await;
        }
        // A wait cut short leaves `asleep` set: the next sender rings once more than needed,
        // and the next wait returns at once and checks the queue again.
        if tokio::time::timeout(SPENT_GRACE, self.wait()).await.is_err() {
            self.reclaim(usize::MAX);
        }
    }

    /// Pushes `message` if there is room; otherwise listens for room before trying once
    /// more, so a slot freed between the two tries still wakes the caller.
    pub(super) fn push_or_listen(&self, message: Message) -> Push<'_> {
        let message = match self.try_push(message) {
            Ok(()) => return Push::Sent,
            Err(PushError::Closed(_)) => return Push::Closed,
            Err(PushError::Full(message)) => message,
        };
        let room = self.room.listen();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let waiting = Waiting(&self.waiting);
        // Pairs with the fence in `pop`: either the drain task sees this sender waiting, or
        // this try sees the slot it freed.
        fence(Ordering::SeqCst);
        match self.try_push(message) {
            Ok(()) => Push::Sent,
            Err(PushError::Closed(_)) => Push::Closed,
            Err(PushError::Full(message)) => Push::Full { message, room, _waiting: waiting },
        }
    }

    /// Pushes `message`, blocking the thread while the queue is full, until `deadline`
    /// (for good, with `None`).
    pub(super) fn push_until(&self, mut message: Message, deadline: Option<Instant>) -> Pushed {
        loop {
            match self.push_or_listen(message) {
                Push::Sent => return Pushed::Sent,
                Push::Closed => return Pushed::Closed,
                Push::Full { message: again, room, _waiting } => {
                    match deadline {
                        None => room.wait(),
                        Some(deadline) => {
                            if room.wait_deadline(deadline).is_none() {
                                return Pushed::TimedOut;
                            }
                        }
                    }
                    message = again;
                }
            }
        }
    }

    /// Pushes `message`, waiting for room while the queue is full. False if the queue closed.
    pub(super) async fn push(&self, mut message: Message) -> bool {
        loop {
            match self.push_or_listen(message) {
                Push::Sent => return true,
                Push::Closed => return false,
                Push::Full { message: again, room, _waiting } => {
                    room.await;
                    message = again;
                }
            }
        }
    }

    /// Hands a handled event back to the emitting side, or drops it if that side is behind.
    pub(super) fn retire(&self, event: Arc<Event<'static>>) {
        let _ = self.spent.push(event);
    }

    /// Drops up to `limit` handled events, on an emitting thread.
    pub(super) fn reclaim(&self, limit: usize) {
        for _ in 0..limit {
            if self.spent.pop().is_err() {
                break;
            }
        }
    }

    /// A flush mark, and the latch it sets once it is gone.
    pub(super) fn mark() -> (Message, Arc<Latch>) {
        let latch = Arc::new(Latch::default());
        (Message::Flush(FlushMark(Arc::clone(&latch))), latch)
    }

    /// Counts a mark just queued.
    pub(super) fn marked(&self) {
        self.progress.marks.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a mark taken from the queue.
    pub(super) fn unmark(&self) {
        self.progress.marks.fetch_sub(1, Ordering::Relaxed);
    }

    /// About how many events the handler still holds: queued, or in hand. Exact once the
    /// senders and flushes are still.
    pub(super) fn held(&self) -> usize {
        let marks = usize::try_from(self.progress.marks.load(Ordering::Relaxed)).unwrap_or(0);
        self.queue.len().saturating_sub(marks) + usize::from(self.progress.handling.load(Ordering::Relaxed))
    }

    /// Ends the queue for good once its drain task is gone, however it went: later sends are
    /// turned away, what is still queued is dropped (events counted, flush marks released),
    /// and senders waiting for room are woken to find it closed.
    pub(super) fn abandon(&self) {
        self.queue.close();
        self.room.notify(usize::MAX);
        while let Ok(message) = self.queue.pop() {
            match message {
                Message::Event(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Message::Flush(_) => self.unmark(),
            }
        }
        self.progress.ended.set();
    }

    pub(super) fn pop(&self) -> Result<Message, PopError> {
        let message = self.queue.pop()?;
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.room.notify(usize::MAX);
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use super::{Inbox, Message, Pushed};
    use crate::event::{Event, EventData, RunInfo, RunKind};

    fn token() -> Message {
        let run = RunInfo::new(RunKind::Llm, "fake_llm");
        Message::Event(Arc::new(Event::new(&run, EventData::NewToken("Hel".into())).to_static()))
    }

    #[test]
    fn an_abandoned_inbox_counts_its_queued_events_as_dropped_and_releases_its_flushes() {
        let inbox = Inbox::new(2);
        assert!(inbox.try_push(token()).is_ok());
        let (mark, reached) = Inbox::mark();
        assert!(inbox.try_push(mark).is_ok());
        inbox.marked();
        assert_eq!(inbox.held(), 1, "the mark is not an event");

        inbox.abandon();

        assert_eq!(inbox.dropped.load(Ordering::Relaxed), 1);
        assert!(reached.is_set(), "a flush waiting on its mark is released");
        assert!(inbox.progress.ended.is_set());
        assert!(matches!(inbox.push_until(token(), None), Pushed::Closed), "later sends are turned away at once");
        assert_eq!(inbox.held(), 0);
    }

    #[test]
    fn a_push_into_a_full_inbox_gives_up_at_its_deadline() {
        let inbox = Inbox::new(1);
        assert!(inbox.try_push(token()).is_ok());
        let started = Instant::now();
        let deadline = started + Duration::from_millis(20);

        assert!(matches!(inbox.push_until(token(), Some(deadline)), Pushed::TimedOut));
        assert!(Instant::now() >= deadline);
        assert_eq!(inbox.held(), 1);
    }
}
