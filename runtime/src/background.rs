//! Background dispatch: async handlers run on runtrace's own dispatch thread, each fed by a
//! bounded queue that keeps its events in emission order.
//!
//! The dispatch threads run a two-worker tokio runtime of their own, so events are delivered
//! whether or not the emitting code runs inside a runtime, and a runtime that shuts down
//! (the end of a `#[tokio::main]`) cannot strand queued events: [`flush`] still reaches them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender, TrySendError};

use crate::dispatch::{CatchUnwind, panic_message, report};
use crate::event::Event;
use crate::handler::{AsyncCallbackHandler, Handler, HandlerRepr, Ignore, IntoHandler};

/// How long a full queue may hold up a current-thread runtime under [`Overflow::Block`].
const STALL_LIMIT: Duration = Duration::from_millis(250);

/// How many events a background handler's queue holds by default. The queue is reserved
/// when the handler is added, about 24 bytes a slot: mind it for per-request async handlers
/// (`Background::new(h).capacity(64)`).
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

/// The sending side of one background handler.
pub(crate) struct Worker {
    name: String,
    ignore: Ignore,
    overflow: Overflow,
    queue: Sender<Message>,
    dropped: AtomicU64,
    /// Set when a current-thread runtime gave up waiting for room; cleared by the next send
    /// that finds room.
    stalled: AtomicBool,
}

impl Worker {
    fn start(handler: Arc<dyn AsyncCallbackHandler>, capacity: usize, overflow: Overflow) -> Arc<Worker> {
        let (queue, inbox) = async_channel::bounded(capacity);
        let worker = Arc::new(Worker {
            name: handler.name().to_owned(),
            ignore: handler.ignore(),
            overflow,
            queue,
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
            None => tracing::error!(
                target: "runtrace",
                handler = %worker.name,
                "runtrace could not start its dispatch thread: this background handler gets no events"
            ),
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
        let message = match self.queue.try_send(Message::Event(event)) {
            Ok(()) => {
                self.stalled.store(false, Ordering::Relaxed);
                return;
            }
            Err(TrySendError::Closed(_)) => return,
            Err(TrySendError::Full(message)) => message,
        };
        // The queue drains on runtrace's own dispatch thread, but the handler may wait on
        // the caller's runtime (a channel read by one of its tasks): parking a thread that
        // runtime needs could hang both, so a tokio thread never just blocks.
        let waited = match (self.overflow, runtime_here()) {
            (Overflow::Block, Here::Outside) => self.queue.send_blocking(message).is_ok(),
            (Overflow::Block, Here::MultiThread) => {
                tokio::task::block_in_place(|| self.queue.send_blocking(message)).is_ok()
            }
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
            match self.queue.try_send(message) {
                Ok(()) | Err(TrySendError::Closed(_)) => return true,
                Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                    message = again;
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(TrySendError::Full(_)) => {
                    self.stalled.store(true, Ordering::Relaxed);
                    return false;
                }
            }
        }
    }

    pub(crate) async fn flush(&self) {
        let (done, wait) = async_channel::bounded(1);
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.recv().await;
        }
    }

    pub(crate) fn flush_blocking(&self) {
        let (done, wait) = async_channel::bounded(1);
        wait_here(|| {
            if self.queue.send_blocking(Message::Flush(done)).is_ok() {
                let _ = wait.recv_blocking();
            }
        });
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

async fn drain(handler: Arc<dyn AsyncCallbackHandler>, inbox: Receiver<Message>, drained: Sender<()>) {
    while let Ok(message) = inbox.recv().await {
        match message {
            Message::Event(event) => {
                let outcome = CatchUnwind(handler.on_event(&event)).await;
                let error = match outcome {
                    Ok(Ok(())) => continue,
                    Ok(Err(error)) => error.to_string(),
                    Err(panic) => panic_message(&*panic),
                };
                report(handler.name(), &event, &error);
            }
            Message::Flush(done) => {
                let _ = done.send(()).await;
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
