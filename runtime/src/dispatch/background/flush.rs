//! Flushing: waiting until background handlers have handled every event emitted so far, for
//! as long as that takes or until a deadline.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use concurrent_queue::PushError;

use super::drain::draining;
use super::inbox::{Inbox, Message, Pushed};
use super::latch::Latch;
use super::timeout::{FlushTimeout, Unfinished};
use super::worker::{Worker, dispatch_runtime, wait_here};

/// Every background handler whose queue may still hold events, for the process-wide
/// [`flush`]. Touched when a background handler is created and on flush, never per event.
static REGISTERED: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// A handler as the registry keeps it: its queue lives as long as its worker or its drain
/// task, so a flush still reaches a handler whose managers are all gone.
struct Registered {
    name: Arc<str>,
    inbox: Weak<Inbox>,
}

impl Registered {
    fn target(&self) -> Option<Target> {
        let inbox = self.inbox.upgrade()?;
        (!inbox.progress.ended.is_set()).then(|| Target { name: Arc::clone(&self.name), inbox })
    }

    fn pending(&self) -> bool {
        self.target().is_some()
    }
}

fn registry() -> MutexGuard<'static, Vec<Registered>> {
    REGISTERED.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn register(worker: &Worker) {
    let mut registered = registry();
    if registered.len() >= 64 && registered.len().is_power_of_two() {
        registered.retain(Registered::pending);
    }
    registered.push(Registered { name: Arc::clone(worker.shared_name()), inbox: Arc::downgrade(worker.inbox()) });
}

/// A handler a flush waits for.
struct Target {
    name: Arc<str>,
    inbox: Arc<Inbox>,
}

/// One flush: the handlers it waits for.
pub(crate) struct Flush {
    targets: Vec<Target>,
    /// Counts the flush as running inside a handler's code for as long as it does.
    _inside: Option<Inside>,
}

struct Inside(Arc<Inbox>);

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.progress.flushing.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Flush {
    /// Every background handler of the process that may still hold events.
    pub(crate) fn everything() -> Flush {
        let targets = {
            let mut registered = registry();
            registered.retain(Registered::pending);
            registered.iter().filter_map(Registered::target).collect()
        };
        Flush::new(targets)
    }

    /// One handler.
    pub(crate) fn of(worker: &Worker) -> Flush {
        Flush::new(vec![Target { name: Arc::clone(worker.shared_name()), inbox: Arc::clone(worker.inbox()) }])
    }

    /// Inside a handler's code, a flush must not wait on that handler's own queue, which only
    /// the task now waiting would empty; nor on a handler that is itself flushing inside its
    /// own code, which may be waiting on this one. Of two handlers that flush each other, at
    /// least one sees the other counted (each counts itself before it looks) and skips it,
    /// so that one ends, and then the other.
    fn new(mut targets: Vec<Target>) -> Flush {
        let inside = draining().map(|own| {
            own.progress.flushing.fetch_add(1, Ordering::SeqCst);
            Inside(own)
        });
        if let Some(Inside(own)) = &inside {
            targets.retain(|target| {
                !Arc::ptr_eq(&target.inbox, own) && target.inbox.progress.flushing.load(Ordering::SeqCst) == 0
            });
        }
        Flush { targets, _inside: inside }
    }

    /// Waits for as long as it takes.
    pub(crate) async fn wait(self) {
        for target in &self.targets {
            let (mark, reached) = Inbox::mark();
            if target.inbox.push(mark).await {
                target.inbox.marked();
                reached.wait().await;
            } else {
                target.inbox.progress.ended.wait().await;
            }
            target.inbox.reclaim(usize::MAX);
        }
    }

    /// [`wait`](Self::wait), blocking the thread.
    pub(crate) fn wait_blocking(self) {
        wait_here(|| wait_until(&self.targets, None));
    }

    /// Waits at most `timeout`, blocking the thread.
    pub(crate) fn wait_blocking_timeout(self, timeout: Duration) -> Result<(), FlushTimeout> {
        let deadline = Instant::now().checked_add(timeout);
        finish(timeout, wait_here(|| wait_until(&self.targets, deadline)))
    }

    /// Waits at most `timeout`.
    ///
    /// The wait runs on a blocking thread of runtrace's own runtime: the deadline must not
    /// need a timer from the caller's runtime, which may have none, nor from runtrace's
    /// dispatch threads, which a handler that blocks them could hold up.
    pub(crate) async fn wait_timeout(self, timeout: Duration) -> Result<(), FlushTimeout> {
        let deadline = Instant::now().checked_add(timeout);
        let Flush { targets, _inside } = self;
        let unfinished = match dispatch_runtime() {
            // No drain task ever ran, so every queue is closed and empty: nothing blocks.
            None => wait_until(&targets, deadline),
            Some(runtime) => {
                let (sender, receiver) = async_channel::bounded(1);
                runtime.spawn_blocking(move || sender.send_blocking(wait_until(&targets, deadline)));
                // Nothing to report if the wait itself failed: it has no handler code to fail in.
                receiver.recv().await.unwrap_or_default()
            }
        };
        finish(timeout, unfinished)
    }
}

fn finish(timeout: Duration, unfinished: Vec<Unfinished>) -> Result<(), FlushTimeout> {
    if unfinished.is_empty() { Ok(()) } else { Err(FlushTimeout { timeout, unfinished }) }
}

/// How one target's flush stands.
enum Wait {
    Queued(Arc<Latch>),
    Full(Message, Arc<Latch>),
    /// The queue is closed: the handler's managers are gone, and its drain task ends once it
    /// has handled what is left.
    Ending,
    Late,
}

/// Waits until every target has handled what was queued before, or until `deadline`; the
/// targets that had not.
fn wait_until(targets: &[Target], deadline: Option<Instant>) -> Vec<Unfinished> {
    // Every mark that fits is queued before any wait, so that one handler with a full
    // queue holds up no other's mark, and all work toward the deadline side by side.
    let queued: Vec<Wait> = targets
        .iter()
        .map(|target| {
            let (mark, reached) = Inbox::mark();
            match target.inbox.try_push(mark) {
                Ok(()) => {
                    target.inbox.marked();
                    Wait::Queued(reached)
                }
                Err(PushError::Full(mark)) => Wait::Full(mark, reached),
                Err(PushError::Closed(_)) => Wait::Ending,
            }
        })
        .collect();
    let waits: Vec<Wait> = queued
        .into_iter()
        .zip(targets)
        .map(|(wait, target)| {
            let Wait::Full(mark, reached) = wait else { return wait };
            match target.inbox.push_until(mark, deadline) {
                Pushed::Sent => {
                    target.inbox.marked();
                    Wait::Queued(reached)
                }
                Pushed::Closed => Wait::Ending,
                Pushed::TimedOut => Wait::Late,
            }
        })
        .collect();
    let mut unfinished = Vec::new();
    for (target, wait) in targets.iter().zip(waits) {
        let finished = match wait {
            Wait::Queued(reached) => reached.wait_until(deadline),
            Wait::Ending => target.inbox.progress.ended.wait_until(deadline),
            Wait::Full(..) | Wait::Late => false,
        };
        if finished {
            target.inbox.reclaim(usize::MAX);
        } else {
            unfinished.push(Unfinished { name: target.name.to_string(), events: target.inbox.held() });
        }
    }
    unfinished
}

/// Waits until every background handler of the process has handled every event emitted
/// before the call, for as long as that takes.
///
/// Call it, or hold a [`FlushGuard`](super::FlushGuard), before a program exits: runtrace
/// cannot see the process end, and events still queued then are lost. A handler that never
/// finishes an event makes this wait for good; [`flush_timeout`] waits at most a given time
/// and names the handlers that had not finished.
///
/// Called inside an async handler's own code, it waits for every other handler and skips
/// that handler's own queue, which only the task now waiting would empty (and that of
/// another handler flushing inside its own code at the time, which may be waiting on this
/// one). A task the handler spawns is not its own code: a flush there, awaited by the
/// handler, waits on itself.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// runtrace_runtime::flush().await;
/// # }
/// ```
pub async fn flush() {
    Flush::everything().wait().await;
}

/// [`flush`] for synchronous code: blocks the calling thread until every background handler
/// has handled every event emitted before the call, for as long as that takes.
///
/// On a multi-thread tokio runtime it waits through `block_in_place`; on a current-thread
/// runtime prefer `flush().await`, since a handler that waits on that runtime could not
/// progress while its only thread is blocked. Inside an async handler's own code it skips
/// that handler's queue, as [`flush`] does. [`flush_blocking_timeout`] waits at most a given
/// time.
///
/// ```
/// runtrace_runtime::flush_blocking();
/// ```
pub fn flush_blocking() {
    Flush::everything().wait_blocking();
}

/// [`flush`] with a deadline: waits at most `timeout` until every background handler of the
/// process has handled every event emitted before the call.
///
/// Handlers are flushed side by side, so one that is stuck holds up the others by nothing
/// and the call by at most `timeout`. The error names each handler that had not finished
/// and how many events it still held; they go on handling them after the call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use runtrace_runtime::background::flush_timeout;
///
/// if let Err(error) = flush_timeout(Duration::from_secs(5)).await {
///     eprintln!("{error}");
/// }
/// # }
/// ```
///
/// # Errors
///
/// [`FlushTimeout`] when some handler had not handled every event by the deadline.
pub async fn flush_timeout(timeout: Duration) -> Result<(), FlushTimeout> {
    Flush::everything().wait_timeout(timeout).await
}

/// [`flush_timeout`] for synchronous code: blocks the calling thread for at most `timeout`.
///
/// ```
/// use std::time::Duration;
/// use runtrace_runtime::background::flush_blocking_timeout;
///
/// flush_blocking_timeout(Duration::from_secs(5))?;
/// # Ok::<(), runtrace_runtime::background::FlushTimeout>(())
/// ```
///
/// # Errors
///
/// [`FlushTimeout`] when some handler had not handled every event by the deadline.
pub fn flush_blocking_timeout(timeout: Duration) -> Result<(), FlushTimeout> {
    Flush::everything().wait_blocking_timeout(timeout)
}
