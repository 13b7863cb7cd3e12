//! # runtrace-otel
//!
//! [runtrace](https://docs.rs/runtrace) runs as OpenTelemetry spans, exported over OTLP to
//! Arize Phoenix, Langfuse, LangSmith or any OpenTelemetry backend. Built on
//! `opentelemetry_sdk` 0.33: each finished run becomes one [`SpanData`] handed to a
//! [`SpanExporter`].
//!
//! ## A tour
//!
//! - [`OtelHandler`] makes runs into spans; [`OtelHandler::from_env`] exports them over
//!   OTLP/HTTP as the standard `OTEL_EXPORTER_OTLP_*` variables say; [`OtelBuilder`]
//!   chooses conventions, message content and limits.
//! - Zero code: with the `runtrace` facade's `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   set, every run of the process is exported and delivered at exit ([`install_from_env`]),
//!   unless the program built an [`OtelHandler`] of its own before its first traced call.
//! - One identity: a span's trace id is its root run's id ([`trace_id_of`]), its span id
//!   the low half of its run id ([`span_id_of`]); start and end are the times runtrace
//!   recorded.
//! - Context both ways: a root run started inside an OpenTelemetry span becomes its child;
//!   [`context_of`] gives a run's context to spans that other libraries make inside it.
//! - Attributes in four conventions, each a builder switch, all on by default
//!   ([`attributes`]): OpenTelemetry GenAI, OpenInference, LangSmith, Langfuse.
//! - Errors, panics, cancellations and budget stops end a span with status `Error` and an
//!   `exception` event; streamed tokens are span events, or only counted ([`TokenEvents`]).
//! - Message content (inputs, outputs, messages) is recorded only when asked, by
//!   [`CAPTURE_CONTENT_ENV`] or [`OtelBuilder::with_message_content`]; string values
//!   longer than 32 KiB are cut ([`OtelBuilder::with_max_attribute_len`]).
//!
//! ## Variables
//!
//! Read once, when the exporter is built:
//!
//! | variable | effect |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | where spans go (`/v1/traces` is appended to the first); setting either turns the zero-code export on |
//! | `OTEL_EXPORTER_OTLP_HEADERS` / `..._TRACES_HEADERS` | `key=value,key2=value2`, e.g. an API key |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT` / `..._TRACES_TIMEOUT` | milliseconds per export (default 10000) |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` / `..._TRACES_PROTOCOL` | `http/protobuf` (default) or `http/json` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource spans are exported with |
//! | `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` | `true` records inputs, outputs and messages |
//! | `OTEL_SDK_DISABLED` | `true` turns the zero-code export off |
//!
//! ## Example
//!
//! ```
//! use opentelemetry_sdk::trace::InMemorySpanExporter;
//! use runtrace::prelude::*;
//! use runtrace_otel::OtelHandler;
//!
//! #[traced_run(kind = "tool")]
//! fn calculator(expr: String) -> f64 {
//!     expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
//! }
//!
//! #[traced_run(kind = "chain")]
//! fn answer(question: String, run: &RunManager) -> String {
//!     format!("{question} {}", calculator("2 + 2".into(), run))
//! }
//!
//! let spans = InMemorySpanExporter::default(); // or runtrace_otel::otlp_exporter_from_env()?
//! let otel = OtelHandler::builder(spans.clone()).with_message_content(true).build();
//! answer("What is 2 + 2?".into(), &otel.callbacks());
//! otel.flush_blocking(std::time::Duration::from_secs(5));
//!
//! let spans = spans.get_finished_spans().unwrap();
//! assert_eq!(spans[0].name, "execute_tool calculator");
//! assert_eq!(spans[1].name, "answer");
//! assert_eq!(spans[0].span_context.trace_id(), spans[1].span_context.trace_id());
//! ```
//!
//! `InMemorySpanExporter` needs `opentelemetry_sdk`'s `testing` feature: in your own crate,
//! `opentelemetry_sdk = { version = "=0.33.1", features = ["testing"] }` among the
//! (dev-)dependencies.
//!
//! [`SpanData`]: opentelemetry_sdk::trace::SpanData
//! [`SpanExporter`]: opentelemetry_sdk::trace::SpanExporter
#![deny(missing_docs)]

pub mod attributes;
mod config;
mod context;
mod env;
mod error;
mod handler;
mod ids;
mod pipeline;
mod record;
mod value;

pub use config::{CAPTURE_CONTENT_ENV, MAX_SPAN_EVENTS, TokenEvents};
pub use context::context_of;
#[doc(hidden)]
pub use env::__zero_code;
pub use env::{OtelGuard, install_from_env, otlp_exporter_from_env};
pub use error::OtelError;
pub use handler::{OtelBuilder, OtelHandler};
pub use ids::{span_id_of, trace_id_of};
pub use value::DEFAULT_MAX_ATTRIBUTE_LEN;

/// The OpenTelemetry crates this one is built on, at the versions it uses.
///
/// ```
/// use runtrace_otel::sdk::Resource;
/// let resource = Resource::builder().with_service_name("quickstart").build();
/// # drop(resource);
/// ```
pub use opentelemetry_sdk as sdk;
