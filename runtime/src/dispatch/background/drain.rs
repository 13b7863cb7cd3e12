//! The drain task: feeds one background handler its events, one at a time, in order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use concurrent_queue::PopError;

use super::inbox::{Inbox, Message};
use crate::dispatch::catch_unwind::CatchUnwind;
use crate::dispatch::report::{panic_message, report};
use crate::event::{Event, render};
use crate::handler::AsyncCallbackHandler;

tokio::task_local! {
    /// The inbox a drain task drains, visible to its handler's code: a flush or a send made
    /// there must not wait on that inbox, which only this task empties.
    static DRAINING: Arc<Inbox>;
}

/// The inbox drained by the task this runs in, when it is a handler's drain task.
pub(super) fn draining() -> Option<Arc<Inbox>> {
    DRAINING.try_with(Arc::clone).ok()
}

/// Whether this runs in the drain task of `inbox`.
pub(super) fn is_draining(inbox: &Inbox) -> bool {
    DRAINING.try_with(|draining| std::ptr::eq(&**draining, inbox)).unwrap_or(false)
}

/// Hands `handler` every event of `inbox` until the inbox is closed and empty.
pub(super) async fn drain(handler: Arc<dyn AsyncCallbackHandler>, inbox: Arc<Inbox>, name: Arc<str>) {
    // Runs however the task ends: were it to die, nothing would ever empty the queue, and
    // every sender and flush waiting on it would wait for good.
    let _ended = Ended(Arc::clone(&inbox));
    DRAINING.scope(Arc::clone(&inbox), feed(&*handler, &inbox, &name)).await;
}

async fn feed(handler: &dyn AsyncCallbackHandler, inbox: &Inbox, name: &str) {
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
                inbox.progress.handling.store(true, Ordering::Relaxed);
                if let Some(error) = handle(handler, &event).await {
                    report(name, &event, &error);
                }
                inbox.progress.handling.store(false, Ordering::Relaxed);
                inbox.retire(event);
            }
            Message::Flush(mark) => {
                inbox.unmark();
                drop(mark);
            }
        }
    }
}

/// Runs `handler` on `event`; its failure, if any. A panic counts wherever it happens: in the
/// future, or in the call that makes it (an `unwrap` before `Box::pin(async { .. })`).
async fn handle(handler: &dyn AsyncCallbackHandler, event: &Event<'static>) -> Option<String> {
    let outcome = match catch_unwind(AssertUnwindSafe(|| handler.on_event(event))) {
        Ok(future) => CatchUnwind(future).await,
        Err(panic) => Err(panic),
    };
    match outcome {
        Ok(Ok(())) => None,
        // The error's `Display` is the handler's code: a panic in it must not end the drain task.
        Ok(Err(error)) => Some(render::display(&error)),
        Err(panic) => Some(format!("panicked: {}", panic_message(&*panic))),
    }
}

struct Ended(Arc<Inbox>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.abandon();
    }
}
