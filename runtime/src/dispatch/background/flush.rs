//! The process-wide flush: every background handler that may still hold events.

use std::sync::{Arc, Mutex, Weak};

use async_channel::Receiver;

use super::worker::{Worker, wait_here};

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

pub(super) fn register(worker: &Arc<Worker>, drain_done: Receiver<()>) {
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
