//! Handlers: the built-in ones, one file each, and what a handler author needs beside the
//! two traits ([`CallbackHandler`](crate::CallbackHandler),
//! [`AsyncCallbackHandler`](crate::AsyncCallbackHandler)).
//!
//! - [`ConsoleHandler`] prints one line per event (what `verbose` adds);
//! - [`RecordingHandler`] keeps every event, for tests and inspection;
//! - [`ChannelHandler`] forwards a request's events to a `tokio::sync::mpsc` channel;
//! - [`UsageTracker`] totals the tokens model runs billed, per model, and prices them with a
//!   [`PriceTable`]; [`TokenBudget`] stops runs past a number of tokens;
//! - [`TracingBridge`] makes each run a `tracing` span, current while its body runs;
//! - the tracer, which assembles run trees, is in [`tracer`](crate::tracer).
//!
//! A handler returns a [`HandlerResult`], opts out of events with [`Ignore`], and is held by
//! managers as a [`RegisteredHandler`] (what [`IntoHandler`] makes of it).
//!
//! ```
//! use std::sync::Arc;
//! use runtrace_runtime::{CallbackManager, RunKind};
//! use runtrace_runtime::event::Usage;
//! use runtrace_runtime::handlers::{ConsoleHandler, TokenBudget, UsageTracker};
//!
//! // A request's handlers: a log, its token totals, and a limit.
//! let usage = Arc::new(UsageTracker::new());
//! let callbacks = CallbackManager::new()
//!     .with_handler(ConsoleHandler::new().with_writer(std::io::sink()))
//!     .with_handler(usage.clone())
//!     .with_handler(TokenBudget::billed(10_000));
//! let llm = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
//! llm.report_usage(Usage::new(9, 2))?;
//! llm.end(&"Hello")?;
//! assert_eq!(usage.total(), Usage::new(9, 2));
//! # Ok::<(), runtrace_runtime::CallbackError>(())
//! ```

mod budget;
mod channel;
mod console;
mod price;
mod recording;
mod tracing_bridge;
mod usage;

pub use budget::{BudgetExceeded, TokenBudget};
pub use channel::{ChannelHandler, StreamEvent};
pub use console::ConsoleHandler;
pub(crate) use console::Elapsed;
pub use price::{Cost, Price, PriceTable};
pub use recording::RecordingHandler;
pub use tracing_bridge::TracingBridge;
pub(crate) use tracing_bridge::{bridge_made, on_span};
pub use usage::UsageTracker;

pub use crate::dispatch::{AsyncMarker, IntoHandler, RegisteredHandler, SyncMarker};
pub use crate::handler::{BoxFuture, HandlerError, HandlerResult, Ignore};
