//! Background dispatch: async handlers run on runtrace's own dispatch thread, each fed by a
//! bounded queue that keeps its events in emission order.
//!
//! The dispatch threads run a two-worker tokio runtime of their own, so events are delivered
//! whether or not the emitting code runs inside a runtime, and a runtime that shuts down
//! (the end of a `#[tokio::main]`) cannot strand queued events: [`flush`] still reaches them.

mod flush;
mod inbox;
mod overflow;
mod worker;

use std::sync::Arc;

pub use flush::{flush, flush_blocking};
pub use overflow::Overflow;
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
}

impl<H> Background<H> {
    /// How many events a background handler's queue holds by default. The queue is reserved
    /// when the handler is added, about 24 bytes a slot, with 16 bytes a slot for up to 256
    /// handled events that wait to be freed by the emitting thread: mind it for per-request
    /// async handlers (`Background::new(h).with_capacity(64)`).
    pub const DEFAULT_CAPACITY: usize = 1024;
}

impl<H: AsyncCallbackHandler> Background<H> {
    /// `handler` with a queue of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) events and
    /// [`Overflow::Block`].
    #[must_use]
    pub fn new(handler: H) -> Self {
        Background { handler, capacity: Self::DEFAULT_CAPACITY, overflow: Overflow::Block }
    }

    /// How many events may wait in the queue (at least 1).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// What to do when the queue is full.
    #[must_use]
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

impl<H: AsyncCallbackHandler> Background<H> {
    /// Starts the handler's drain task; the worker is its sending side.
    pub(crate) fn start(self) -> Arc<Worker> {
        let (worker, drain_done) = Worker::start(Arc::new(self.handler), self.capacity, self.overflow);
        flush::register(&worker, drain_done);
        worker
    }
}
