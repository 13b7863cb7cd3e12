//! The runtime of [runtrace](https://docs.rs/runtrace): events, handlers, callback and run
//! managers, and dispatch. Most users depend on `runtrace`, which re-exports all of this
//! beside the `#[traced_run]` attribute.
//!
//! A tour:
//! - a [`CallbackManager`] holds handlers, tags and metadata; [`start_run`](CallbackManager::start_run)
//!   starts a run and gives back its [`RunGuard`];
//! - a [`RunManager`] streams a run's events ([`on_llm_new_token`](RunManager::on_llm_new_token), ...)
//!   and dereferences to the manager of its children, so nested runs form a tree;
//! - handlers implement [`CallbackHandler`] (called inline) or [`AsyncCallbackHandler`]
//!   (called in the background; [`flush`] waits for them);
//! - they receive [`Event`]s, which carry the run's [`RunInfo`] and its [`EventData`];
//! - built in: [`ConsoleHandler`] and [`RecordingHandler`];
//! - a [`Tracer`] assembles runs into [`RunTree`]s for an [`Exporter`] (a JSON Lines file, or
//!   memory); [`collect_runs`], [`Tracer::in_scope`] and `RUNTRACE_TRACE=runs.jsonl` trace
//!   without passing it by hand; [`TraceContext`] continues a trace in another process.
//!
//! ```
//! use std::sync::Arc;
//! use runtrace_runtime::{CallbackManager, RecordingHandler, RunKind};
//!
//! let recorder = Arc::new(RecordingHandler::new());
//! let callbacks = CallbackManager::new().with_handler(recorder.clone());
//! let chain = callbacks.start_run(RunKind::Chain, "answer", &"What is 2+2?")?;
//! let tool = chain.start_run(RunKind::Tool, "calculator", &"2+2")?;
//! tool.end(&4)?;
//! let chain_id = chain.run_id();
//! chain.end(&"4")?;
//! assert_eq!(recorder.runs()[1].parent_run_id, chain_id);
//! # Ok::<(), runtrace_runtime::CallbackError>(())
//! ```
#![deny(missing_docs)]

mod background;
mod callback_manager;
mod dispatch;
mod error;
mod event;
mod handler;
mod handlers;
mod id;
mod kind;
mod parent;
mod run_guard;
mod run_manager;
mod tags;
mod tracer;

#[doc(hidden)]
pub mod traced;

pub use background::{Background, DEFAULT_CAPACITY, Overflow, flush, flush_blocking};
pub use callback_manager::CallbackManager;
pub use error::CallbackError;
pub use event::{
    AgentAction, AgentFinish, CustomEvent, ErrorCause, Event, EventData, EventType, Payload, Retry, RunEnd, RunError,
    RunInfo, RunStart,
};
pub use handler::{
    AsyncCallbackHandler, AsyncMarker, BoxFuture, CallbackHandler, Handler, HandlerError, HandlerResult, Ignore,
    IntoHandler, SyncMarker,
};
pub use handlers::channel::{ChannelHandler, StreamEvent};
pub use handlers::console::ConsoleHandler;
pub use handlers::recording::RecordingHandler;
pub use id::RunId;
pub use kind::{RunKind, UnknownRunKind};
pub use parent::AsParent;
pub use run_guard::RunGuard;
pub use run_manager::RunManager;
pub use tags::{Metadata, Tags};
pub use tracer::{
    BAGGAGE_HEADER, ExportError, Exporter, HeaderError, JsonlExporter, MAX_HEADER_LEN, ReadError, RunCollector,
    RunEvent, RunTree, TRACE_ENV, TRACE_HEADER, TraceContext, Tracer, TreeView, collect_runs, collect_runs_async,
    scoped_callbacks,
};

/// Records `value` as JSON, the way inputs and outputs of traced runs are recorded. A value
/// that fails to serialize (a map with non-string keys, say), or whose `Serialize` impl
/// panics, is recorded as a string saying why, never a panic.
///
/// ```
/// assert_eq!(runtrace_runtime::record(&[1, 2]), serde_json::json!([1, 2]));
/// ```
pub fn record<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
    // A `Serialize` impl is user code running inside dispatch: its panic must not escape
    // between a run's start and its end.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serde_json::to_value(value))) {
        Ok(Ok(json)) => json,
        Ok(Err(error)) => serde_json::Value::String(format!("<unrecordable: {error}>")),
        Err(_) => serde_json::Value::String("<unrecordable: its Serialize impl panicked>".to_owned()),
    }
}
