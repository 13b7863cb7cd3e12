//! # runtrace
//!
//! LangChain-style callbacks for Rust. One attribute turns a plain function into a traced
//! *run*: every registered handler hears when it starts, streams tokens, ends or fails, and
//! traced calls nested in it become its child runs.
//!
//! ## A tour
//!
//! - [`#[traced_run]`](traced_run) traces a function; its documentation is the attribute's
//!   manual. The function takes its parent ([`AsParent`]): a [`CallbackManager`] to start a
//!   root run with those callbacks, or the caller's [`RunManager`] to become its child.
//! - A [`CallbackManager`] holds handlers, tags and metadata, inheritable or local, as
//!   LangChain's does; [`CallbackManager::none()`] adds no handlers of its own, at next to no
//!   cost (its runs are still heard by a tracer's scope, `RUNTRACE_TRACE` and the exporters'
//!   zero-code switches).
//! - Inside a traced function, `run: &RunManager` is the run: it streams tokens
//!   ([`on_llm_new_token`](RunManager::on_llm_new_token)), text, agent steps and custom
//!   events; a [`RunGuard`] gives every run started by hand exactly one end or error.
//! - A traced function returning a stream keeps its run open until the stream ends, with
//!   its items as tokens (`tokens`) and output (`reduce = path`); one returning a boxed
//!   future, as `#[async_trait]` methods do, until the future finishes. The attribute's
//!   manual has both, under "Streams" and "Trait objects".
//! - Handlers implement [`CallbackHandler`] (called inline) or [`AsyncCallbackHandler`] (run
//!   in the [`background`]; [`flush`] waits for them). They receive [`Event`]s: the run's
//!   identity and its [`EventData`], whose types are in [`event`].
//! - Built-in [`handlers`]: a console printer, a recorder, a channel to a request's stream,
//!   token usage and cost (`UsageTracker`), a token budget (`TokenBudget`) and a `tracing`
//!   bridge (`TracingBridge`).
//! - [`events::stream_events`] turns one traced call into a stream of its events, then its
//!   output (LangChain's `astream_events`): what a server sends its client.
//! - The [`tracer`] assembles runs into LangSmith-shaped trees for an exporter (a JSON Lines
//!   file, memory), also without code changes: `RUNTRACE_TRACE=runs.jsonl`; [`propagation`]
//!   continues a trace in another process through LangSmith's headers.
//! - With the `otel` feature, `otel` (the `runtrace-otel` crate) exports runs as
//!   OpenTelemetry spans, also without code changes: `OTEL_EXPORTER_OTLP_ENDPOINT=...`.
//! - With the `langsmith` feature, `langsmith` (the `runtrace-langsmith` crate) sends run
//!   trees to LangSmith, also without code changes: `LANGSMITH_TRACING=true`.
//! - [`prelude`] imports the caller's kit and the handler author's kit at once.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use runtrace::prelude::*;
//!
//! #[traced_run(kind = "tool")]
//! fn calculator(expr: String) -> f64 {
//!     expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
//! }
//!
//! #[traced_run(kind = "llm")]
//! fn fake_llm(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
//!     for token in ["The answer", " is ", "4"] {
//!         run.on_llm_new_token(token)?; // `?`: a handler may stop the run
//!     }
//!     Ok(format!("The answer to {prompt:?} is 4"))
//! }
//!
//! #[traced_run(kind = "chain")]
//! fn answer(question: String, run: &RunManager) -> Result<String, CallbackError> {
//!     let sum = calculator("2 + 2".into(), run); // pass your run: the tool becomes its child
//!     fake_llm(format!("{question} ({sum})"), run)
//! }
//!
//! // A recorder for this request: it hears the chain and both of its children.
//! let recorder = Arc::new(RecordingHandler::new());
//! let callbacks = CallbackManager::new().with_handler(recorder.clone());
//! answer("What is 2 + 2?".into(), &callbacks)?;
//!
//! let runs = recorder.runs();
//! let names: Vec<&str> = runs.iter().map(|run| &*run.name).collect();
//! assert_eq!(names, ["answer", "calculator", "fake_llm"]);
//! assert_eq!(runs[2].parent_run_id, Some(runs[0].run_id));
//!
//! // The whole tree, as LangSmith would store it.
//! let (_, trees) = collect_runs(|| answer("What is 2 + 2?".into(), CallbackManager::none()));
//! assert_eq!(trees[0].child_runs.len(), 2);
//!
//! // No handlers: the same call, at next to no cost.
//! answer("What is 2 + 2?".into(), CallbackManager::none())?;
//! # Ok::<(), CallbackError>(())
//! ```
#![deny(missing_docs)]

pub use runtrace_macros::traced_run;
#[doc(inline)]
pub use runtrace_runtime::{
    AsParent, AsyncCallbackHandler, CallbackError, CallbackHandler, CallbackManager, Event, EventData, RunGuard, RunId,
    RunKind, RunManager, flush, flush_blocking,
};
#[doc(inline)]
pub use runtrace_runtime::{background, event, events, handlers, propagation, tracer};

/// Runs as OpenTelemetry spans, exported over OTLP: the `runtrace-otel` crate, with the
/// `otel` feature. See [`OtelHandler`](otel::OtelHandler).
#[cfg(feature = "otel")]
pub use runtrace_otel as otel;

/// Run trees sent to LangSmith's ingest API: the `runtrace-langsmith` crate, with the
/// `langsmith` feature. See [`LangSmithExporter`](langsmith::LangSmithExporter).
#[cfg(feature = "langsmith")]
pub use runtrace_langsmith as langsmith;

/// What a traced program and a handler author need, in one import.
///
/// ```
/// use runtrace::prelude::*;
///
/// struct TokenCounter;
///
/// impl CallbackHandler for TokenCounter {
///     fn ignore(&self) -> Ignore {
///         Ignore::CHAIN | Ignore::TOOL
///     }
///
///     fn on_llm_new_token(&self, _event: &Event<'_>, token: &str) -> HandlerResult {
///         println!("token: {token}");
///         Ok(())
///     }
/// }
///
/// let callbacks = CallbackManager::new().with_handler(TokenCounter).with_handler(ConsoleHandler::new());
/// ```
pub mod prelude {
    // The caller's kit.
    #[doc(no_inline)]
    pub use crate::handlers::{ChannelHandler, ConsoleHandler, RecordingHandler};
    #[doc(no_inline)]
    pub use crate::tracer::{RunTree, Tracer, collect_runs, collect_runs_async};
    #[doc(no_inline)]
    pub use crate::{AsParent, CallbackError, CallbackManager, RunGuard, RunKind, RunManager, flush, flush_blocking};
    #[doc(no_inline)]
    pub use runtrace_macros::traced_run;

    // The handler author's kit.
    #[doc(no_inline)]
    pub use crate::handlers::{BoxFuture, HandlerResult, Ignore};
    #[doc(no_inline)]
    pub use crate::{AsyncCallbackHandler, CallbackHandler, Event, EventData};
}

/// What `#[traced_run]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use runtrace_runtime::macro_support::*;
    pub use serde_json::Value;

    /// With the `otel` or `langsmith` feature, the first traced call reads their zero-code
    /// switches (`OTEL_EXPORTER_OTLP_ENDPOINT`, `LANGSMITH_TRACING`): the one place our code
    /// runs before a user's first run without a line of theirs, and before the call asks
    /// whether any handler hears it. After that, one relaxed atomic load per call and feature.
    #[cfg(any(feature = "otel", feature = "langsmith"))]
    #[inline]
    #[must_use]
    pub fn unheard(parent: &CallbackManager, callbacks: Option<&CallbackManager>, verbose: bool) -> bool {
        #[cfg(feature = "otel")]
        runtrace_otel::__zero_code();
        #[cfg(feature = "langsmith")]
        runtrace_langsmith::__zero_code();
        runtrace_runtime::macro_support::unheard(parent, callbacks, verbose)
    }
}

// The README's Rust code blocks, compiled and run by `cargo test --doc`, so that its example
// stays true; blocks marked `sh`, `text` or `toml` are not compiled.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
