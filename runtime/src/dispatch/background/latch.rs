//! [`Latch`]: a flag set once, waited on by flushes, from async code or blocking with a
//! deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use event_listener::{Event as Signal, Listener};

/// Set once, never cleared; any number of waiters, async or blocking.
///
/// A flush waits on one to learn that a drain task reached its mark, or that the drain task
/// ended. A blocking wait takes a deadline, which neither `async_channel` nor tokio's
/// primitives offer without a runtime's timer; a bounded flush must not need one.
#[derive(Default)]
pub(super) struct Latch {
    set: AtomicBool,
    changed: Signal,
}

impl Latch {
    pub(super) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.changed.notify(usize::MAX);
    }

    pub(super) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    pub(super) async fn wait(&self) {
        while !self.is_set() {
            let changed = self.changed.listen();
            // Set between the check and the listening: the listener would never fire.
            if self.is_set() {
                return;
            }
            changed.await;
        }
    }

    /// Blocks until the latch is set or `deadline` passes (never, for `None`); whether it
    /// is set.
    pub(super) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        while !self.is_set() {
            let changed = self.changed.listen();
            if self.is_set() {
                return true;
            }
            match deadline {
                None => changed.wait(),
                Some(deadline) => {
                    if changed.wait_deadline(deadline).is_none() {
                        return self.is_set();
                    }
                }
            }
        }
        true
    }
}
