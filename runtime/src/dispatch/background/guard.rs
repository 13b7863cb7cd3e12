//! [`FlushGuard`]: a flush with a deadline when `main` ends, however it ends.

use std::time::Duration;

use super::flush::flush_blocking_timeout;
use crate::dispatch::report;

/// Flushes every background handler when dropped, waiting at most its timeout: hold one in
/// `main`, so that events still queued when the program ends are delivered, not lost.
///
/// runtrace cannot see the process end: what an async handler has not handled by then is
/// lost. The guard's drop runs [`flush_blocking_timeout`], on a normal return and while a
/// panic unwinds alike; if some handler had not finished by the deadline, it warns (target
/// `runtrace`) once for each such handler, with its name and the events it still held, which
/// are lost if the program then ends. Bind it to a name (`_flush`): `let _ = ..` drops it at once.
///
/// ```
/// use runtrace_runtime::background::FlushGuard;
///
/// fn main() {
///     let _flush = FlushGuard::new();
///     // ... the program, whose async handlers get every event before it exits
/// }
/// ```
///
/// In `#[tokio::main]` the drop blocks the thread that ends `main`, as `flush_blocking` does;
/// the handlers run on runtrace's own threads meanwhile.
#[derive(Debug)]
pub struct FlushGuard {
    timeout: Duration,
}

impl FlushGuard {
    /// How long the drop waits by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A guard waiting at most [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    ///
    /// ```
    /// let _flush = runtrace_runtime::background::FlushGuard::new();
    /// ```
    #[must_use = "the guard flushes when dropped: bind it to a name such as `_flush`"]
    pub fn new() -> Self {
        FlushGuard { timeout: Self::DEFAULT_TIMEOUT }
    }

    /// How long the drop waits at most: long enough for an exporter's last batch, short
    /// enough for a program asked to stop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtrace_runtime::background::FlushGuard;
    ///
    /// let _flush = FlushGuard::new().with_timeout(Duration::from_secs(3));
    /// ```
    #[must_use = "the guard flushes when dropped: bind it to a name such as `_flush`"]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Default for FlushGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let Err(error) = flush_blocking_timeout(self.timeout) else { return };
        for handler in &error.unfinished {
            report::warn_about_handler(
                &handler.name,
                "flush guard gave up",
                &format_args!(
                    "background handler `{}` had not finished when the flush guard stopped waiting after {:?}: its {} \
                     events are lost if the program ends now",
                    handler.name, error.timeout, handler.events,
                ),
            );
        }
    }
}
