//! The sending side of one background handler, and the drain task that feeds it its events.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use concurrent_queue::{PopError, PushError};
use event_listener::Listener;

use super::inbox::{Inbox, Message, Push};
use super::overflow::Overflow;
use crate::dispatch::catch_unwind::CatchUnwind;
use crate::dispatch::report::{panic_message, report};
use crate::event::Event;
use crate::handler::{AsyncCallbackHandler, Ignore};

/// How long a full queue may hold up a current-thread runtime under [`Overflow::Block`].
const STALL_LIMIT: Duration = Duration::from_millis(250);

/// How many handled events a send drops at most: more than the one it adds, so the emitting
/// thread keeps up with the drain task, and few, so no send pays for a long backlog.
const RECLAIM_PER_SEND: usize = 2;

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
    /// Starts the drain task; gives the worker and a receiver that closes once the task has
    /// handled its last event.
    pub(super) fn start(
        handler: Arc<dyn AsyncCallbackHandler>,
        capacity: usize,
        overflow: Overflow,
    ) -> (Arc<Worker>, Receiver<()>) {
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
        (worker, drain_done)
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
pub(super) fn wait_here<R>(wait: impl FnOnce() -> R) -> R {
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
