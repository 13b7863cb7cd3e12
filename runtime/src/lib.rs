//! The runtime of [runtrace](https://docs.rs/runtrace): events, handlers, the managers that
//! start runs, dispatch, the built-in handlers and the tracer. Most users depend on
//! `runtrace`, which re-exports all of this beside the `#[traced_run]` attribute and is
//! where the tour is.
//!
//! ```
//! use std::sync::Arc;
//! use runtrace_runtime::{CallbackManager, RunKind};
//! use runtrace_runtime::handlers::RecordingHandler;
//!
//! let recorder = Arc::new(RecordingHandler::new());
//! let callbacks = CallbackManager::new().with_handler(recorder.clone());
//! let chain = callbacks.start_run(RunKind::Chain, "answer", &"What is 2+2?")?;
//! let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
//! tool.end(&4)?;
//! let chain_id = chain.run_id();
//! chain.end(&"4")?;
//! assert_eq!(recorder.runs()[1].parent_run_id, chain_id);
//! # Ok::<(), runtrace_runtime::CallbackError>(())
//! ```
#![deny(missing_docs)]

// Bottom to top: each module uses only those above it in this list, and the one edge back
// (`run::ambient` asking `tracer::scope` for the `RUNTRACE_TRACE` tracer) is documented there.
mod dispatch;
mod error;
pub mod event;
pub mod events;
#[doc(hidden)]
pub mod exporter_support;
mod handler;
pub mod handlers;
#[doc(hidden)]
pub mod macro_support;
mod run;
mod stream;
mod stripe;
pub mod tracer;
mod work;

pub use dispatch::{flush, flush_blocking};
pub use error::CallbackError;
pub use event::{Event, EventData, RunId, RunKind};
pub use handler::{AsyncCallbackHandler, CallbackHandler};
pub use run::{AsParent, CallbackManager, RunGuard, RunManager};

/// Async handlers in the background: the queue each one gets, and what happens when it is full.
///
/// Any [`AsyncCallbackHandler`] added to a manager runs in the background with the default
/// queue; wrap it in a [`Background`](background::Background) to choose the queue's capacity and its
/// [`Overflow`](background::Overflow) policy. [`flush`] waits until every event emitted so far was handled.
///
/// ```
/// use runtrace_runtime::background::{Background, Overflow};
/// use runtrace_runtime::handlers::{BoxFuture, HandlerResult};
/// use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event};
///
/// struct Exporter;
/// impl AsyncCallbackHandler for Exporter {
///     fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
///         Box::pin(async { Ok(()) })
///     }
/// }
///
/// let exporter = Background::new(Exporter).with_capacity(4096).with_overflow(Overflow::DropNewest);
/// let callbacks = CallbackManager::new().with_handler(exporter);
/// assert!(callbacks.handlers()[0].is_background());
/// ```
pub mod background {
    pub use crate::dispatch::background::{
        Background, FlushGuard, FlushTimeout, Overflow, Unfinished, flush_blocking_timeout, flush_timeout,
    };
}

/// Distributed tracing: a run's place in its trace, carried to another process in
/// LangSmith's `langsmith-trace` and `baggage` headers.
///
/// See [`TraceContext`](propagation::TraceContext).
pub mod propagation {
    pub use crate::tracer::propagation::{HeaderError, TraceContext};
}
