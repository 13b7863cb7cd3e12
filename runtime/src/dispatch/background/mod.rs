//! Background dispatch: async handlers run on runtrace's own dispatch thread, each fed by a
//! bounded queue that keeps its events in emission order.
//!
//! The dispatch threads run a two-worker tokio runtime of their own, so events are delivered
//! whether or not the emitting code runs inside a runtime, and a runtime that shuts down
//! (the end of a `#[tokio::main]`) cannot strand queued events: [`flush`] still reaches them.

mod drain;
mod flush;
mod guard;
mod inbox;
mod latch;
mod overflow;
mod timeout;
mod worker;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use flush::Flush;
pub use flush::{flush, flush_blocking, flush_blocking_timeout, flush_timeout};
pub use guard::FlushGuard;
pub use overflow::Overflow;
pub use timeout::{FlushTimeout, Unfinished};
pub(crate) use worker::Worker;

use crate::handler::AsyncCallbackHandler;

/// An async handler with its queue settings, ready for `with_handler`.
///
/// ```
/// use runtrace_runtime::CallbackManager;
/// use runtrace_runtime::background::Background;
/// # struct Exporter;
/// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
/// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
/// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
/// # }
/// let callbacks = CallbackManager::new().with_handler(Background::new(Exporter).with_capacity(64));
/// assert!(callbacks.handlers()[0].is_background());
/// ```
#[derive(Debug)]
pub struct Background<H> {
    handler: H,
    capacity: usize,
    overflow: Overflow,
    block_timeout: Option<Duration>,
}

impl<H> Background<H> {
    /// How many events a background handler's queue holds by default. The queue is reserved
    /// when the handler is added, about 24 bytes a slot, with 16 bytes a slot for up to 256
    /// handled events that wait to be freed by the emitting thread: mind it for per-request
    /// async handlers (`Background::new(h).with_capacity(64)`).
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// How long a thread waits for room in a full queue under [`Overflow::Block`] by
    /// default; 250 ms on the thread of a current-thread tokio runtime.
    pub const DEFAULT_BLOCK_TIMEOUT: Duration = worker::BLOCK_TIMEOUT;
}

impl<H: AsyncCallbackHandler> Background<H> {
    /// `handler` with a queue of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) events and
    /// [`Overflow::Block`].
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::background::Background;
    /// # struct Exporter;
    /// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
    /// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
    /// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
    /// # }
    /// let callbacks = CallbackManager::new().with_handler(Background::new(Exporter));
    /// assert!(callbacks.handlers()[0].is_background());
    /// ```
    #[must_use]
    pub fn new(handler: H) -> Self {
        Background { handler, capacity: Self::DEFAULT_CAPACITY, overflow: Overflow::Block, block_timeout: None }
    }

    /// How many events may wait in the queue (at least 1).
    ///
    /// ```
    /// # use runtrace_runtime::background::Background;
    /// # struct Exporter;
    /// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
    /// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
    /// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
    /// # }
    /// let exporter = Background::new(Exporter).with_capacity(64);
    /// ```
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What to do when the queue is full.
    ///
    /// ```
    /// # use runtrace_runtime::background::{Background, Overflow};
    /// # struct Exporter;
    /// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
    /// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
    /// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
    /// # }
    /// let exporter = Background::new(Exporter).with_overflow(Overflow::DropNewest);
    /// ```
    #[must_use]
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The longest a thread waits for room in a full queue under [`Overflow::Block`], on
    /// any thread, a current-thread runtime's too; then the event is dropped, as
    /// [`Overflow::Block`] tells. By default [`DEFAULT_BLOCK_TIMEOUT`](Self::DEFAULT_BLOCK_TIMEOUT),
    /// and 250 ms on the thread of a current-thread runtime. `Duration::MAX` waits for as
    /// long as it takes: a handler that stops making progress then stops the traced code.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use runtrace_runtime::background::Background;
    /// # struct Exporter;
    /// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
    /// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
    /// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
    /// # }
    /// // An exporter that may take a second over an event, under a current-thread runtime.
    /// let exporter = Background::new(Exporter).with_block_timeout(Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn with_block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = Some(timeout);
        self
    }
}

impl<H: AsyncCallbackHandler> Background<H> {
    /// Starts the handler's drain task; the worker is its sending side.
    pub(crate) fn start(self) -> Arc<Worker> {
        let worker = Worker::start(Arc::new(self.handler), self.capacity, self.overflow, self.block_timeout);
        flush::register(&worker);
        worker
    }
}
