//! Background dispatch: async handlers run on runtrace's own dispatch thread, each fed by a
//! bounded queue that keeps its events in emission order.
//!
//! The dispatch threads run a two-worker tokio runtime of their own, so events are delivered
//! whether or not the emitting code runs inside a runtime, and a runtime that shuts down
//! (the end of a `#[tokio::main]`) cannot strand queued events: [`flush`] still reaches them.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use event_listener::{Event as Signal, EventListener, Listener};
use tokio::sync::Notify;

use crate::dispatch::{CatchUnwind, panic_message, report};
use crate::event::Event;
use crate::handler::{AsyncCallbackHandler, Handler, HandlerRepr, Ignore, IntoHandler};

/// How long a full queue may hold up a current-thread runtime under [`Overflow::Block`].
const STALL_LIMIT: Duration = Duration::from_millis(250);

/// How many handled events may wait to be dropped by the thread that emits the next ones
/// (fewer if the queue is smaller): enough to cover the drain task's bursts, where it handles
/// what piled up while it slept. Bounded in count, not bytes (each keeps its payloads), so
/// they wait at most [`SPENT_GRACE`] once the handler has nothing left to do.
const SPENT_CAPACITY: usize = 256;

/// How long a drain task with nothing to do leaves handled events for an emitting thread to
/// drop before it drops them itself: past a burst, a quiet server must not keep its last
/// events' payloads for hours, and with no one emitting there is no allocator lock to share.
const SPENT_GRACE: Duration = Duration::from_millis(100);

/// How many handled events a send drops at most: more than the one it adds, so the emitting
/// thread keeps up with the drain task, and few, so no send pays for a long backlog.
const RECLAIM_PER_SEND: usize = 2;

/// How many events a background handler's queue holds by default. The queue is reserved
/// when the handler is added, about 24 bytes a slot, with 16 bytes a slot for up to 256
/// handled events that wait to be freed by the emitting thread: mind it for per-request
/// async handlers (`Background::new(h).capacity(64)`).
pub const DEFAULT_CAPACITY: usize = 1024;

/// What happens when a background handler falls `capacity` events behind.
///
/// ```
/// use runtrace_runtime::{Background, Overflow};
/// # struct Exporter;
/// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
/// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
/// #         -> runtrace_runtime::BoxFuture<'a, runtrace_runtime::HandlerResult> { Box::pin(async { Ok(()) }) }
/// # }
/// let handler = Background::new(Exporter).capacity(1024).overflow(Overflow::DropNewest);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The emitting thread waits for room: nothing is lost, memory stays bounded, and a
    /// handler that cannot keep up slows the traced code down to its pace. The default.
    ///
    /// A thread of a tokio runtime is never parked for good, as the handler may be waiting
    /// on that runtime: on a multi-thread runtime the wait goes through
    /// `tokio::task::block_in_place`; a current-thread runtime, which cannot lend its only
    /// thread, waits at most 250 ms for room — ample for a slow handler — and then drops the
    /// event as [`Overflow::DropNewest`] does, without waiting again until room shows.
    #[default]
    Block,
    /// The new event is dropped and counted, so the traced code never waits; the drops
    /// are reported as warnings and by [`Handler::dropped_events`].
    DropNewest,
}

/// An async handler with its queue settings, ready for `with_handler`.
///
/// ```
/// use runtrace_runtime::{Background, CallbackManager};
/// # struct Exporter;
/// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
/// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
/// #         -> runtrace_runtime::BoxFuture<'a, runtrace_runtime::HandlerResult> { Box::pin(async { Ok(()) }) }
/// # }
/// let callbacks = CallbackManager::new().with_handler(Background::new(Exporter).capacity(64));
/// assert!(callbacks.handlers()[0].is_background());
/// ```
#[derive(Debug)]
pub struct Background<H> {
    handler: H,
    capacity: usize,
    overflow: Overflow,
}

impl<H: AsyncCallbackHandler> Background<H> {
    /// `handler` with a queue of [`DEFAULT_CAPACITY`] events and [`Overflow::Block`].
    #[must_use]
    pub fn new(handler: H) -> Self {
        Background { handler, capacity: DEFAULT_CAPACITY, overflow: Overflow::Block }
    }

    /// How many events may wait in the queue (at least 1).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What to do when the queue is full.
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

impl<H: AsyncCallbackHandler> IntoHandler<Handler> for Background<H> {
    fn into_handler(self) -> Handler {
        let worker = Worker::start(Arc::new(self.handler), self.capacity, self.overflow);
        Handler(HandlerRepr::Background(worker))
    }
}

enum Message {
    Event(Arc<Event<'static>>),
    Flush(Sender<()>),
}

/// The queue between a background handler's senders and its drain task, with the two
/// signals across it.
struct Inbox {
    queue: ConcurrentQueue<Message>,
    /// Handled events, handed back to be dropped by an emitting thread. An event's memory
    /// is allocated there; freeing it on the dispatch thread instead made the two threads
    /// contend for the allocator's lock on every event (glibc's arena mutex, a futex wait
    /// more often than not) and left the emitting thread's allocation cache empty. When it
    /// is full, with no one emitting to drain it, the drain task drops events itself.
    spent: ConcurrentQueue<Arc<Event<'static>>>,
    /// Wakes the drain task, which drains everything queued before it waits again.
    arrived: Notify,
    /// Set while the drain task waits (or is about to) for `arrived`. Senders notify only
    /// when it is set: a burst of events costs the traced code one wake-up of the dispatch
    /// thread instead of one per event, and an event sent while the drain task is busy costs
    /// it one read, while a lone event (a streamed token) still wakes it at once.
    asleep: AtomicBool,
    /// Wakes senders waiting for room in a full queue.
    room: Signal,
    /// How many senders listen to `room`: the drain task signals it only when one does, so
    /// a queue that never fills costs no lock on either side.
    waiting: AtomicUsize,
}

/// What came of one try to push into a full-at-first queue.
enum Push<'a> {
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
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inbox {
    fn new(capacity: usize) -> Arc<Inbox> {
        Arc::new(Inbox {
            queue: ConcurrentQueue::bounded(capacity),
            spent: ConcurrentQueue::bounded(capacity.min(SPENT_CAPACITY)),
            arrived: Notify::new(),
            asleep: AtomicBool::new(false),
            room: Signal::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    fn try_push(&self, message: Message) -> Result<(), PushError<Message>> {
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
    async fn wait(&self) {
        self.asleep.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            self.arrived.notified().await;
        }
        self.asleep.store(false, Ordering::Relaxed);
    }

    /// Waits, on the drain task, until a message is queued, dropping the handled events
    /// still held for the emitting side once [`SPENT_GRACE`] passes without one.
    async fn idle(&self) {
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
    fn push_or_listen(&self, message: Message) -> Push<'_> {
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
    fn push_blocking(&self, mut message: Message) -> bool {
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
    async fn push(&self, mut message: Message) -> bool {
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
    fn retire(&self, event: Arc<Event<'static>>) {
        let _ = self.spent.push(event);
    }

    /// Drops up to `limit` handled events, on an emitting thread.
    fn reclaim(&self, limit: usize) {
        for _ in 0..limit {
            if self.spent.pop().is_err() {
                break;
            }
        }
    }

    fn pop(&self) -> Result<Message, PopError> {
        let message = self.queue.pop()?;
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.room.notify(usize::MAX);
        }
        Ok(message)
    }
}

/// The sending side of one background handler.
pub(crate) struct Worker {
    name: String,
    ignore: Ignore,
    overflow: Overflow,
    inbox: Arc<Inbox>,
    dropped: AtomicU64,
    /// Set when a current-thread runtime gave up waiting for room; cleared by the next send
    /// that finds room.
    stalled: AtomicBool,
}

impl Worker {
    fn start(handler: Arc<dyn AsyncCallbackHandler>, capacity: usize, overflow: Overflow) -> Arc<Worker> {
        let inbox = Inbox::new(capacity);
        let worker = Arc::new(Worker {
            name: handler.name().to_owned(),
            ignore: handler.ignore(),
            overflow,
            inbox: Arc::clone(&inbox),
            dropped: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
        });
        // The drain task holds `drained` until it has handled its last event, so a flush can
        // still wait for a handler whose managers are all gone.
        let (drained, drain_done) = async_channel::bounded(1);
        match dispatch_runtime() {
            Some(runtime) => {
                runtime.spawn(drain(handler, inbox, drained));
            }
            None => {
                // Nothing will ever drain the queue: closed, it turns every send away at once
                // instead of letting a blocking one wait for good.
                inbox.queue.close();
                tracing::error!(
                    target: "runtrace",
                    handler = %worker.name,
                    "runtrace could not start its dispatch thread: this background handler gets no events"
                );
            }
        }
        register(&worker, drain_done);
        worker
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn ignore(&self) -> Ignore {
        self.ignore
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, event: Arc<Event<'static>>) {
        self.inbox.reclaim(RECLAIM_PER_SEND);
        let message = match self.inbox.try_push(Message::Event(event)) {
            Ok(()) => {
                // Read first: a store on every event would bounce the cache line for nothing.
                if self.stalled.load(Ordering::Relaxed) {
                    self.stalled.store(false, Ordering::Relaxed);
                }
                return;
            }
            Err(PushError::Closed(_)) => return,
            Err(PushError::Full(message)) => message,
        };
        // The queue drains on runtrace's own dispatch thread, but the handler may wait on
        // the caller's runtime (a channel read by one of its tasks): parking a thread that
        // runtime needs could hang both, so a tokio thread never just blocks.
        let waited = match (self.overflow, runtime_here()) {
            (Overflow::Block, Here::Outside) => self.inbox.push_blocking(message),
            (Overflow::Block, Here::MultiThread) => tokio::task::block_in_place(|| self.inbox.push_blocking(message)),
            (Overflow::Block, Here::CurrentThread) => self.send_within(message, STALL_LIMIT),
            (Overflow::DropNewest, _) => false,
        };
        if !waited {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    target: "runtrace",
                    handler = %self.name,
                    dropped,
                    "background handler is behind: its queue is full and new events are dropped"
                );
            }
        }
    }

    /// Waits for room up to `limit`, for a thread that must not block for good: a slow
    /// handler makes room within it, one waiting on this thread's runtime never does. After
    /// one miss the handler counts as stalled and later events do not wait until room shows.
    fn send_within(&self, mut message: Message, limit: Duration) -> bool {
        if self.stalled.load(Ordering::Relaxed) {
            return false;
        }
        let deadline = Instant::now() + limit;
        loop {
            match self.inbox.push_or_listen(message) {
                Push::Sent | Push::Closed => return true,
                Push::Full { message: again, room, _waiting } => {
                    if room.wait_deadline(deadline).is_none() {
                        self.stalled.store(true, Ordering::Relaxed);
                        return false;
                    }
                    message = again;
                }
            }
        }
    }

    /// Waits until the handler has handled every event sent before, then drops the handled
    /// events still held for the emitting side, so none outlives a flush.
    pub(crate) async fn flush(&self) {
        let (done, wait) = async_channel::bounded(1);
        if self.inbox.push(Message::Flush(done)).await {
            let _ = wait.recv().await;
        }
        self.inbox.reclaim(usize::MAX);
    }

    pub(crate) fn flush_blocking(&self) {
        let (done, wait) = async_channel::bounded(1);
        wait_here(|| {
            if self.inbox.push_blocking(Message::Flush(done)) {
                let _ = wait.recv_blocking();
            }
        });
        self.inbox.reclaim(usize::MAX);
    }
}

impl Drop for Worker {
    /// Ends the drain task once it has handled what is queued: no one can send any more.
    fn drop(&mut self) {
        self.inbox.queue.close();
        self.inbox.arrived.notify_one();
    }
}

/// Where the calling thread is, as far as blocking it goes.
enum Here {
    Outside,
    MultiThread,
    CurrentThread,
}

fn runtime_here() -> Here {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Err(_) => Here::Outside,
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => Here::MultiThread,
        Ok(_) => Here::CurrentThread,
    }
}

/// Runs `wait`, which blocks, letting a multi-thread runtime move its other tasks off this
/// thread first.
fn wait_here<R>(wait: impl FnOnce() -> R) -> R {
    match runtime_here() {
        Here::MultiThread => tokio::task::block_in_place(wait),
        Here::Outside | Here::CurrentThread => wait(),
    }
}

async fn drain(handler: Arc<dyn AsyncCallbackHandler>, inbox: Arc<Inbox>, drained: Sender<()>) {
    loop {
        let message = match inbox.pop() {
            Ok(message) => message,
            Err(PopError::Empty) => {
                inbox.idle().await;
                continue;
            }
            Err(PopError::Closed) => break,
        };
        match message {
            Message::Event(event) => {
                let error = match CatchUnwind(handler.on_event(&event)).await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(error.to_string()),
                    Err(panic) => Some(panic_message(&*panic)),
                };
                if let Some(error) = error {
                    report(handler.name(), &event, &error);
                }
                inbox.retire(event);
            }
            Message::Flush(done) => {
                let _ = done.try_send(());
            }
        }
    }
    drop(drained);
}

fn dispatch_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("runtrace-dispatch")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Every background handler whose queue may still hold events, for the process-wide
/// [`flush`]. Touched when a background handler is created and on flush, never per event.
static WORKERS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

struct Registered {
    worker: Weak<Worker>,
    /// Closed once the worker's drain task has handled its last event.
    drain_done: Receiver<()>,
}

impl Registered {
    fn pending(&self) -> bool {
        self.worker.strong_count() > 0 || !self.drain_done.is_closed()
    }
}

/// A worker to flush: still in use, or dropped with events left in its queue.
enum Pending {
    Open(Arc<Worker>),
    Draining(Receiver<()>),
}

fn registry() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    WORKERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn register(worker: &Arc<Worker>, drain_done: Receiver<()>) {
    let mut workers = registry();
    if workers.len() >= 64 && workers.len().is_power_of_two() {
        workers.retain(Registered::pending);
    }
    workers.push(Registered { worker: Arc::downgrade(worker), drain_done });
}

fn pending_workers() -> Vec<Pending> {
    let mut workers = registry();
    workers.retain(Registered::pending);
    workers
        .iter()
        .map(|registered| match registered.worker.upgrade() {
            Some(worker) => Pending::Open(worker),
            None => Pending::Draining(registered.drain_done.clone()),
        })
        .collect()
}

/// Waits until every background handler of the process has handled every event emitted
/// before the call. Call it before a program exits, so nothing is lost.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// runtrace_runtime::flush().await;
/// # }
/// ```
pub async fn flush() {
    for pending in pending_workers() {
        match pending {
            Pending::Open(worker) => worker.flush().await,
            Pending::Draining(drain_done) => {
                let _ = drain_done.recv().await;
            }
        }
    }
}

/// [`flush`] for synchronous code: blocks the calling thread until every background handler
/// has handled every event emitted before the call. On a multi-thread tokio runtime it waits
/// through `block_in_place`; on a current-thread runtime prefer `flush().await`, since a
/// handler that waits on that runtime could not progress while its only thread is blocked.
/// Never call it from an async handler itself.
///
/// ```
/// runtrace_runtime::flush_blocking();
/// ```
pub fn flush_blocking() {
    for pending in pending_workers() {
        match pending {
            Pending::Open(worker) => worker.flush_blocking(),
            Pending::Draining(drain_done) => {
                let _ = wait_here(|| drain_done.recv_blocking());
            }
        }
    }
}
