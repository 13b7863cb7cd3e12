//! The queue between a background handler's senders and its drain task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::time::Duration;

use async_channel::Sender;
use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use event_listener::{Event as Signal, EventListener, Listener};
use tokio::sync::Notify;

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
    Flush(Sender<()>),
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

    /// Pushes `message`, blocking the thread while the queue is full. False if the queue
    /// closed.
    pub(super) fn push_blocking(&self, mut message: Message) -> bool {
        loop {
            match self.push_or_listen(message) {
                Push::Sent => return true,
                Push::Closed => return false,
                Push::Full { message: again, room, _waiting } => {
                    room.wait();
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

    pub(super) fn pop(&self) -> Result<Message, PopError> {
        let message = self.queue.pop()?;
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.room.notify(usize::MAX);
        }
        Ok(message)
    }
}
