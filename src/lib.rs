//! # runtrace
//!
//! LangChain-style callbacks for Rust. One attribute turns a plain function into a traced
//! *run*: every registered handler hears when it starts, streams tokens, ends or fails, and
//! traced calls nested in it become its child runs.
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
//! #[traced_run(kind = "chain")]
//! fn answer(question: String, run: &RunManager) -> String {
//!     let sum = calculator("2 + 2".into(), run); // pass your run: the tool becomes its child
//!     format!("{question} {sum}")
//! }
//!
//! let recorder = Arc::new(RecordingHandler::new());
//! let callbacks = CallbackManager::new().with_handler(recorder.clone());
//! assert_eq!(answer("2 + 2 =".into(), &callbacks), "2 + 2 = 4");
//!
//! let runs = recorder.runs();
//! assert_eq!((&*runs[0].name, &*runs[1].name), ("answer", "calculator"));
//! assert_eq!(runs[1].parent_run_id, Some(runs[0].run_id));
//!
//! // No handlers: the same call, at next to no cost.
//! assert_eq!(answer("2 + 2 =".into(), CallbackManager::none()), "2 + 2 = 4");
//! ```
//!
//! The [`traced_run`] attribute's documentation is its manual; the runtime's types are
//! re-exported here from `runtrace-runtime`.
#![deny(missing_docs)]

pub use runtrace_macros::traced_run;
pub use runtrace_runtime::*;

/// What a traced program needs, in one import.
///
/// ```
/// use runtrace::prelude::*;
/// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new());
/// ```
pub mod prelude {
    pub use runtrace_macros::traced_run;
    pub use runtrace_runtime::{
        AsyncCallbackHandler, CallbackError, CallbackHandler, CallbackManager, ChannelHandler, ConsoleHandler, Event,
        EventData, HandlerResult, RecordingHandler, RunKind, RunManager, RunTree, Tracer, collect_runs,
    };
}

/// What `#[traced_run]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use runtrace_runtime::traced::*;
    pub use runtrace_runtime::{CallbackManager, RunGuard, RunKind, RunManager};
    pub use serde_json::Value;
}
