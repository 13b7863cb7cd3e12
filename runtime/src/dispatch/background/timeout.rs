//! [`FlushTimeout`]: what a flush with a deadline tells of the handlers that did not finish.

use std::fmt;
use std::time::Duration;

/// Some background handlers had not handled every event when a flush's deadline passed.
///
/// The events are still queued and the handlers go on with them; they are lost only if the
/// program ends now. Each [`Unfinished`] names a handler and the events it still holds.
///
/// ```
/// use std::time::Duration;
/// use runtrace_runtime::background::{FlushTimeout, flush_blocking_timeout};
///
/// match flush_blocking_timeout(Duration::from_secs(5)) {
///     Ok(()) => {}
///     Err(FlushTimeout { unfinished, .. }) => {
///         for handler in &unfinished {
///             eprintln!("{} still holds {} events", handler.name, handler.events);
///         }
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushTimeout {
    /// How long the flush waited.
    pub timeout: Duration,
    /// The handlers that had not finished, in the order they were added.
    pub unfinished: Vec<Unfinished>,
}

/// A background handler that had not finished when a flush's deadline passed; see
/// [`FlushTimeout`].
///
/// ```
/// # use std::time::Duration;
/// # use runtrace_runtime::background::FlushTimeout;
/// fn report(error: &FlushTimeout) {
///     let names: Vec<&str> = error.unfinished.iter().map(|handler| &*handler.name).collect();
///     eprintln!("not flushed in {:?}: {}", error.timeout, names.join(", "));
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unfinished {
    /// The handler's [`name`](crate::AsyncCallbackHandler::name).
    pub name: String,
    /// The events it still held, queued or in hand, when the deadline passed.
    pub events: usize,
}

impl FlushTimeout {
    /// The events the unfinished handlers still held, all together.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use runtrace_runtime::background::flush_blocking_timeout;
    /// let held = flush_blocking_timeout(Duration::from_secs(1)).err().map_or(0, |error| error.events());
    /// assert_eq!(held, 0);
    /// ```
    #[must_use]
    pub fn events(&self) -> usize {
        self.unfinished.iter().map(|handler| handler.events).sum()
    }
}

impl fmt::Display for FlushTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handlers = self.unfinished.len();
        write!(
            f,
            "{handlers} background handler{} did not finish within {:?}, still holding {} events:",
            if handlers == 1 { "" } else { "s" },
            self.timeout,
            self.events(),
        )?;
        for (index, handler) in self.unfinished.iter().enumerate() {
            let separator = if index == 0 { " " } else { ", " };
            write!(f, "{separator}`{}` ({})", handler.name, handler.events)?;
        }
        Ok(())
    }
}

impl std::error::Error for FlushTimeout {}
