//! # runtrace-langsmith
//!
//! [runtrace](https://docs.rs/runtrace) run trees sent to LangSmith's ingest API, so that a
//! Rust service's runs land in a LangSmith project, and join the traces of Python services
//! that call it (see `runtrace::propagation`).
//!
//! ## A tour
//!
//! - [`LangSmithExporter`] is a tracer [`Exporter`](runtrace_runtime::tracer::Exporter): it
//!   sends each finished tree's runs from a thread of its own, in the SDK's multipart format
//!   (or the batch endpoint's JSON), batched within the server's limits, retried as the
//!   server's answers say, its queue bounded with drops counted.
//! - [`LangSmithExporter::callbacks`] is a manager that traces into it, and with which
//!   `runtrace::flush()` waits until the runs were sent.
//! - Zero code: with the `runtrace` facade's `langsmith` feature and `LANGSMITH_TRACING=true`,
//!   every run of the process is sent, configured by `LANGSMITH_API_KEY`,
//!   `LANGSMITH_WORKSPACE_ID`, `LANGSMITH_ENDPOINT` and `LANGSMITH_PROJECT`
//!   ([`install_from_env`]), unless the program built a [`LangSmithExporter`] of its own
//!   before its first traced call.
//! - Runs are in the shape LangSmith's SDK posts: `dotted_order`, `trace_id`,
//!   `session_name` (the project), `extra.metadata`, LangSmith's `run_type`.
//!
//! ## Variables
//!
//! Read once, when the exporter is built; each `LANGSMITH_*` name wins over its older
//! `LANGCHAIN_*` one:
//!
//! | variable | effect |
//! | --- | --- |
//! | `LANGSMITH_TRACING` (`LANGCHAIN_TRACING_V2`) | `true` (any case) turns the zero-code export on |
//! | `LANGSMITH_API_KEY` (`LANGCHAIN_API_KEY`) | the API key, sent as `x-api-key` |
//! | `LANGSMITH_WORKSPACE_ID` (`LANGCHAIN_WORKSPACE_ID`) | the workspace runs are written to, sent as `X-Tenant-Id`: needed with a key scoped to an organization or to several workspaces |
//! | `LANGSMITH_ENDPOINT` (`LANGCHAIN_ENDPOINT`) | the API's base URL; default `https://api.smith.langchain.com` |
//! | `LANGSMITH_PROJECT` (`LANGCHAIN_PROJECT`) | the project of runs whose trace names none; default `default`, as the SDK's |
//!
//! ## Example
//!
//! ```
//! use runtrace::prelude::*;
//! use runtrace_langsmith::LangSmithExporter;
//!
//! #[traced_run(kind = "tool")]
//! fn calculator(expr: String) -> f64 {
//!     expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
//! }
//!
//! // or LangSmithExporter::from_env()?, as LangSmith's SDK reads its variables
//! let langsmith = LangSmithExporter::builder()
//!     .with_endpoint("http://127.0.0.1:9") // nothing listens there in this example
//!     .with_api_key("lsv2_...")
//!     .with_project("calculator")
//!     .with_max_attempts(1)
//!     .build()?;
//! calculator("2 + 2".into(), &langsmith.callbacks());
//! langsmith.flush_blocking(std::time::Duration::from_secs(5));
//! assert_eq!(langsmith.sent_runs() + langsmith.dropped_runs(), 1);
//! # Ok::<(), runtrace_langsmith::LangSmithError>(())
//! ```
#![deny(missing_docs)]

mod config;
mod env;
mod error;
mod exporter;
mod payload;
mod sender;

pub use config::DEFAULT_ENDPOINT;
#[doc(hidden)]
pub use env::__zero_code;
pub use env::{LangSmithGuard, TRACING_ENV, install_from_env};
pub use error::LangSmithError;
pub use exporter::{LangSmithBuilder, LangSmithExporter};
