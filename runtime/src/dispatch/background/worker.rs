//! The sending side of one background handler: where an emitted event enters its queue, and
//! what a full queue does with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use concurrent_queue::PushError;

use super::drain::{drain, is_draining};
use super::inbox::{Inbox, Message, Pushed};
use super::overflow::Overflow;
use crate::dispatch::report;
use crate::event::Event;
use crate::handler::{AsyncCallbackHandler, Ignore};

/// How long a full queue holds up a thread under [`Overflow::Block`] by default.
pub(super) const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a full queue holds up the thread of a current-thread runtime by default: that
/// runtime's other tasks, which the handler may be waiting on, stand still meanwhile.
pub(super) const CURRENT_THREAD_BLOCK_TIMEOUT: Duration = Duration::from_millis(250);

/// How many handled events a send drops at most: more than the one it adds, so the emitting
/// thread keeps up with the drain task, and few, so no send pays for a long backlog.
const RECLAIM_PER_SEND: usize = 2;

/// The sending side of one background handler.
pub(crate) struct Worker {
    name: Arc<str>,
    ignore: Ignore,
    overflow: Overflow,
    /// The longest a sender waits for room under [`Overflow::Block`]; `None` for the
    /// defaults above.
    block_timeout: Option<Duration>,
    inbox: Arc<Inbox>,
    /// Set when a sender gave up waiting for room; cleared by the next send that finds room.
    stalled: AtomicBool,
    /// Set once the handler was reported for stalling: one warning, however often it stalls.
    stall_reported: AtomicBool,
}

impl Worker {
    /// Starts the drain task; the worker is its sending side.
    pub(super) fn start(
        handler: Arc<dyn AsyncCallbackHandler>,
        capacity: usize,
        overflow: Overflow,
        block_timeout: Option<Duration>,
    ) -> Arc<Worker> {
        let name: Arc<str> = Arc::from(handler.name());
        let inbox = Inbox::new(capacity);
        let worker = Arc::new(Worker {
            name: Arc::clone(&name),
            ignore: handler.ignore(),
            overflow,
            block_timeout,
            inbox: Arc::clone(&inbox),
            stalled: AtomicBool::new(false),
            stall_reported: AtomicBool::new(false),
        });
        match dispatch_runtime() {
            Some(runtime) => {
                runtime.spawn(drain(handler, inbox, name));
            }
            None => {
                // Nothing will ever drain the queue: closed, it turns every send away at once
                // instead of letting a blocking one wait.
                inbox.abandon();
                report::warn_once(
                    "no dispatch thread",
                    &format_args!(
                        "runtrace could not start its dispatch thread: background handler `{}` gets no events",
                        worker.name
                    ),
                );
            }
        }
        worker
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    pub(super) fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    pub(crate) fn ignore(&self) -> Ignore {
        self.ignore
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.inbox.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, event: Arc<Event<'static>>) {
        self.inbox.reclaim(RECLAIM_PER_SEND);
        match self.inbox.try_push(Message::Event(event)) {
            Ok(()) => {
                // Read first: a store on every event would bounce the cache line for nothing.
                if self.stalled.load(Ordering::Relaxed) {
                    self.stalled.store(false, Ordering::Relaxed);
                }
            }
            Err(PushError::Full(message)) => self.overflow(message),
            Err(PushError::Closed(_)) => self.drop_event(Why::Closed),
        }
    }

    /// Waits for room as the overflow policy and the thread allow, or drops the event.
    #[cold]
    fn overflow(&self, message: Message) {
        // Only this handler's own drain task makes room: when it is the sender (a handler
        // whose code traces runs it hears itself), waiting could only end in the timeout.
        if self.overflow == Overflow::DropNewest || self.stalled.load(Ordering::Relaxed) || is_draining(&self.inbox) {
            return self.drop_event(Why::Full);
        }
        // The queue drains on runtrace's own dispatch thread, but the handler may wait on
        // the caller's runtime (a channel read by one of its tasks): parking a thread that
        // runtime needs could hang both, so a tokio thread never waits long, and no thread
        // waits for good on a handler that stopped making progress.
        let here = runtime_here();
        let limit = self.block_timeout.unwrap_or(match here {
            Here::CurrentThread => CURRENT_THREAD_BLOCK_TIMEOUT,
            Here::Outside | Here::MultiThread => BLOCK_TIMEOUT,
        });
        let deadline = Instant::now().checked_add(limit);
        let pushed = match here {
            Here::MultiThread => tokio::task::block_in_place(|| self.inbox.push_until(message, deadline)),
            Here::Outside | Here::CurrentThread => self.inbox.push_until(message, deadline),
        };
        match pushed {
            Pushed::Sent => {}
            Pushed::Closed => self.drop_event(Why::Closed),
            Pushed::TimedOut => {
                self.stalled.store(true, Ordering::Relaxed);
                self.drop_event(Why::Stalled);
            }
        }
    }

    /// Counts a dropped event and warns: once when the handler first stalls, and at every
    /// power of two of the count otherwise, so a flood of drops costs a few lines.
    fn drop_event(&self, why: Why) {
        let dropped = self.inbox.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let handler = &*self.name;
        let message = match why {
            Why::Stalled if !self.stall_reported.swap(true, Ordering::Relaxed) => {
                "made no room in its full queue in time: the traced code no longer waits for it, and drops its \
                 new events until it catches up"
            }
            _ if !dropped.is_power_of_two() => return,
            Why::Closed => "has its queue closed for good: its new events are dropped",
            Why::Full | Why::Stalled => "is behind: its queue is full and new events are dropped",
        };
        report::warn_about_handler(
            handler,
            "dropped events",
            &format_args!("background handler `{handler}` {message} ({dropped} dropped so far)"),
        );
    }
}

/// Why an event was dropped, for the warning.
#[derive(Clone, Copy)]
enum Why {
    /// The queue was full and the sender would not wait.
    Full,
    /// The queue was full and no room showed within the block timeout.
    Stalled,
    /// The queue was closed: its drain task is gone.
    Closed,
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

/// runtrace's own runtime, where the drain tasks run; `None` if it could not start.
pub(super) fn dispatch_runtime() -> Option<&'static tokio::runtime::Runtime> {
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
