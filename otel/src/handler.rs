//! [`OtelHandler`]: the two handlers that make runs into spans, and their shared core.
//!
//! The work is done in the background ([`AsyncCallbackHandler`]): the traced call pays what
//! it pays for any async handler (an owned copy of each event, pushed on a queue that drops
//! rather than waits when full), less the inputs and outputs when message content is off.
//! A small sync part runs inline at root run starts only to read the caller's current
//! OpenTelemetry context, which the background cannot see.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanExporter;
use runtrace_runtime::background::{Background, Overflow};
use runtrace_runtime::event::{RunEnd, RunStart};
use runtrace_runtime::handlers::{BoxFuture, HandlerResult, Ignore, IntoHandler, RegisteredHandler};
use runtrace_runtime::tracer::dotted_order;
use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event, EventData, RunId};
use serde_json::Map;

use crate::attributes::openinference;
use crate::config::{Config, TokenEvents};
use crate::context::ParentCapture;
use crate::ids::{span_id_of, trace_id_of};
use crate::pipeline::Pipeline;
use crate::record::{Ending, OpenRun};
use crate::value::Limits;

/// How many ended runs of a trace still open keep their dotted order, for children that
/// start after their parent ended.
const MAX_ENDED_PER_TRACE: usize = 4096;

/// Exports every run it hears as an OpenTelemetry span, once the run ends.
///
/// It is two handlers, which [`callbacks`](Self::callbacks) (or [`attach`](Self::attach))
/// adds to a manager together: the exporter proper, in the background, and a sync part that
/// reads the caller's OpenTelemetry context when a root run starts, so that a run started
/// inside a request span becomes its child. Each run becomes one span (see the crate docs
/// for ids, times and attributes); spans go to the exporter in batches.
///
/// Cloning is cheap and clones are the same handler.
///
/// ```
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// use runtrace_otel::OtelHandler;
/// use runtrace_runtime::RunKind;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), runtrace_runtime::CallbackError> {
/// let spans = InMemorySpanExporter::default();
/// let otel = OtelHandler::builder(spans.clone()).build();
/// let callbacks = otel.callbacks();
///
/// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
/// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
/// tool.end(&4)?;
/// chain.end(&"4")?;
///
/// otel.flush().await;
/// let spans = spans.get_finished_spans().unwrap();
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[0].name, "execute_tool calculator");
/// assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OtelHandler {
    core: Arc<Core>,
    capture: RegisteredHandler,
    export: RegisteredHandler,
}

/// Builds an [`OtelHandler`]: which conventions it writes, whether it records message
/// content, and its limits. Every convention is on by default.
///
/// ```
/// use std::time::Duration;
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// use runtrace_otel::{OtelHandler, TokenEvents};
///
/// let otel = OtelHandler::builder(InMemorySpanExporter::default())
///     .with_langfuse(false)
///     .with_message_content(true)
///     .with_token_events(TokenEvents::CountOnly)
///     .with_project("my-app")
///     .with_scheduled_delay(Duration::from_millis(500))
///     .build();
/// # drop(otel);
/// ```
#[derive(Debug)]
#[must_use]
pub struct OtelBuilder<E> {
    exporter: E,
    config: Config,
    resource: Option<Resource>,
    project: Option<String>,
    /// Built by the zero-code switch, not by the program (see [`build`](Self::build)).
    zero_code: bool,
}

impl OtelHandler {
    /// A builder for a handler that hands its spans to `exporter`.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Clones share their spans: this one reads what the handler's clone was given.
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(spans.get_finished_spans()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn builder<E: SpanExporter + 'static>(exporter: E) -> OtelBuilder<E> {
        OtelBuilder { exporter, config: Config::default(), resource: None, project: None, zero_code: false }
    }

    /// A handler with the default settings that hands its spans to `exporter`.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// let otel = runtrace_otel::OtelHandler::new(InMemorySpanExporter::default());
    /// assert_eq!(otel.handlers().len(), 2);
    /// ```
    #[must_use]
    pub fn new<E: SpanExporter + 'static>(exporter: E) -> OtelHandler {
        OtelHandler::builder(exporter).build()
    }

    /// Its two handlers, the sync part first: add both to a manager, in this order.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let otel = runtrace_otel::OtelHandler::new(InMemorySpanExporter::default());
    /// let callbacks = otel.handlers().into_iter().fold(CallbackManager::new(), CallbackManager::with_handler);
    /// assert_eq!(callbacks.handlers().len(), 2);
    /// ```
    #[must_use]
    pub fn handlers(&self) -> [RegisteredHandler; 2] {
        [self.capture.clone(), self.export.clone()]
    }

    /// A manager holding this handler, inheritable: every run started from it, and their
    /// children, become spans.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// let callbacks = runtrace_otel::OtelHandler::new(InMemorySpanExporter::default()).callbacks();
    /// assert_eq!(callbacks.handlers().len(), 2);
    /// ```
    #[must_use]
    pub fn callbacks(&self) -> CallbackManager {
        self.attach(CallbackManager::new())
    }

    /// `callbacks` with this handler added.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::ConsoleHandler;
    ///
    /// let otel = runtrace_otel::OtelHandler::new(InMemorySpanExporter::default());
    /// let callbacks = otel.attach(CallbackManager::new().with_handler(ConsoleHandler::new()));
    /// assert_eq!(callbacks.handlers().len(), 3);
    /// ```
    #[must_use]
    pub fn attach(&self, callbacks: CallbackManager) -> CallbackManager {
        callbacks.with_handler(self.capture.clone()).with_handler(self.export.clone())
    }

    /// Waits until every run that ended before the call was handed to the exporter and its
    /// export finished (or failed), ignoring a backoff window.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// otel.flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        self.export.flush().await;
        let Some(runtime) = self.core.pipeline.runtime().cloned() else { return };
        let pipeline = Arc::clone(&self.core.pipeline);
        let _ = runtime.spawn(async move { pipeline.export_all().await }).await;
    }

    /// [`flush`](Self::flush) for synchronous code, giving up after `timeout`; whether it
    /// finished in time.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// assert!(otel.flush_blocking(std::time::Duration::from_secs(5)));
    /// ```
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let (done, finished) = std::sync::mpsc::sync_channel::<()>(1);
        let handler = self.clone();
        // A helper thread, so that the wait is bounded whatever the backend does, and
        // whatever runtime the caller is on.
        let spawned = std::thread::Builder::new().name("runtrace-otel-flush".into()).spawn(move || {
            handler.export.flush_blocking();
            if let Some(runtime) = handler.core.pipeline.runtime().cloned() {
                let pipeline = Arc::clone(&handler.core.pipeline);
                let (exported, wait) = std::sync::mpsc::sync_channel::<()>(1);
                runtime.spawn(async move {
                    pipeline.export_all().await;
                    let _ = exported.send(());
                });
                let _ = wait.recv();
            }
            let _ = done.send(());
        });
        spawned.is_ok() && finished.recv_timeout(timeout).is_ok()
    }

    /// Flushes (at most `timeout`), shuts the exporter down, and reports once how many
    /// spans and events were dropped, if any.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// otel.shutdown(std::time::Duration::from_secs(5));
    /// ```
    pub fn shutdown(&self, timeout: Duration) {
        let started = std::time::Instant::now();
        if !self.flush_blocking(timeout) {
            tracing::warn!(target: "runtrace_otel", "runtrace-otel could not deliver every span within {timeout:?}");
        }
        let _ = self.core.pipeline.shutdown_exporter(timeout.saturating_sub(started.elapsed()));
        let (spans, events) = (self.dropped_spans(), self.dropped_events());
        if spans + events > 0 {
            tracing::warn!(
                target: "runtrace_otel",
                spans,
                events,
                "runtrace-otel dropped {spans} spans and {events} events in all"
            );
        }
    }

    /// Spans handed to the exporter and accepted by it.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// assert_eq!(otel.exported_spans(), 0);
    /// ```
    #[must_use]
    pub fn exported_spans(&self) -> u64 {
        self.core.pipeline.exported()
    }

    /// Spans lost: batches the backend refused or did not answer, spans past the export
    /// queue's bound, and open runs evicted past the open-run bound.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// assert_eq!(otel.dropped_spans(), 0);
    /// ```
    #[must_use]
    pub fn dropped_spans(&self) -> u64 {
        self.core.pipeline.dropped()
    }

    /// Events the background queue turned away because it was full (it never makes the
    /// traced call wait); their runs are exported as far as they are known, or not at all.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// assert_eq!(otel.dropped_events(), 0);
    /// ```
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.export.dropped_events()
    }

    /// How many runs started and have not ended yet.
    ///
    /// ```
    /// # let otel = runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default());
    /// assert_eq!(otel.open_runs(), 0);
    /// ```
    #[must_use]
    pub fn open_runs(&self) -> usize {
        self.core.state().open.len()
    }
}

impl std::fmt::Debug for OtelHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelHandler").field("open_runs", &self.open_runs()).finish_non_exhaustive()
    }
}

impl<E: SpanExporter + 'static> OtelBuilder<E> {
    /// Writes the OpenTelemetry GenAI attributes (`gen_ai.*`) and GenAI span names.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_genai(false).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(!span.attributes.iter().any(|kv| kv.key.as_str().starts_with("gen_ai.")));
    /// # Ok(()) }
    /// ```
    pub fn with_genai(mut self, on: bool) -> Self {
        self.config.genai = on;
        self
    }

    /// Writes the OpenInference attributes (Phoenix, Arize).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_openinference(false).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(!span.attributes.iter().any(|kv| kv.key.as_str().starts_with("openinference.")));
    /// # Ok(()) }
    /// ```
    pub fn with_openinference(mut self, on: bool) -> Self {
        self.config.openinference = on;
        self
    }

    /// Writes the LangSmith attributes (`langsmith.*`).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_langsmith(false).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(!span.attributes.iter().any(|kv| kv.key.as_str().starts_with("langsmith.")));
    /// # Ok(()) }
    /// ```
    pub fn with_langsmith(mut self, on: bool) -> Self {
        self.config.langsmith = on;
        self
    }

    /// Writes the Langfuse attributes (`langfuse.*`).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_langfuse(false).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(!span.attributes.iter().any(|kv| kv.key.as_str().starts_with("langfuse.")));
    /// # Ok(()) }
    /// ```
    pub fn with_langfuse(mut self, on: bool) -> Self {
        self.config.langfuse = on;
        self
    }

    /// Records message content (inputs, outputs, messages, streamed text), overriding
    /// [`CAPTURE_CONTENT_ENV`](crate::CAPTURE_CONTENT_ENV). Off by default, as the GenAI
    /// conventions ask; what runtrace records already leaves out `skip`ped arguments and
    /// holds `redact`ed ones as `"[REDACTED]"`.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_message_content(true).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(span.attributes.iter().any(|kv| kv.value.as_str().contains("2+2")));
    /// # Ok(()) }
    /// ```
    pub fn with_message_content(mut self, on: bool) -> Self {
        self.config.content = on;
        self
    }

    /// How streamed tokens appear: an event each, or only their count.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::TokenEvents;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_token_events(TokenEvents::CountOnly).build();
    /// let llm = otel.callbacks().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// llm.on_llm_new_token("Hel")?;
    /// llm.on_llm_new_token("lo")?;
    /// llm.end(&"Hello")?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(!span.events.iter().any(|event| event.name == "new_token"));
    /// # Ok(()) }
    /// ```
    pub fn with_token_events(mut self, token_events: TokenEvents) -> Self {
        self.config.token_events = token_events;
        self
    }

    /// The most bytes of one string attribute (default 32 KiB); longer ones are cut.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_max_attribute_len(256).with_message_content(true).build();
    /// let long = "x".repeat(10_000);
    /// otel.callbacks().start_run(RunKind::Tool, "echo", &long)?.end(&long)?;
    /// otel.flush().await;
    /// let span = &spans.get_finished_spans()?[0];
    /// assert!(span.attributes.iter().all(|kv| kv.value.as_str().len() < 10_000));
    /// # Ok(()) }
    /// ```
    pub fn with_max_attribute_len(mut self, bytes: usize) -> Self {
        self.config.max_attribute_len = bytes.max(64);
        self
    }

    /// How many events wait for the background part (default 16384); past that, new
    /// events are dropped and counted, never waited for.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_event_queue(1024).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// assert_eq!(otel.dropped_events(), 0);
    /// # Ok(()) }
    /// ```
    pub fn with_event_queue(mut self, events: usize) -> Self {
        self.config.event_queue = events.max(1);
        self
    }

    /// How many finished spans wait for export (default 4096); past that, the oldest are
    /// dropped and counted.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_max_queued_spans(1024).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// assert_eq!(otel.dropped_spans(), 0);
    /// # Ok(()) }
    /// ```
    pub fn with_max_queued_spans(mut self, spans: usize) -> Self {
        self.config.max_queued_spans = spans.max(1);
        self
    }

    /// The most spans one export carries (default 512).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_max_batch(1).build();
    /// for question in ["2+2", "3+3"] {
    ///     otel.callbacks().start_run(RunKind::Tool, "calculator", &question)?.end(&4)?;
    /// }
    /// otel.flush().await; // two exports of one span each
    /// assert_eq!(otel.exported_spans(), 2);
    /// # Ok(()) }
    /// ```
    pub fn with_max_batch(mut self, spans: usize) -> Self {
        self.config.max_batch = spans.max(1);
        self
    }

    /// How long spans of a tree still open wait before they are exported (default 1 s).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use std::time::Duration;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_scheduled_delay(Duration::from_millis(100)).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.config.scheduled_delay = delay;
        self
    }

    /// How long one export may take before it counts as failed (default 10 s).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use std::time::Duration;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_export_timeout(Duration::from_secs(2)).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }

    /// How long the background part waits, when a tree ends, for its export to finish
    /// (default 2 s), so that `runtrace::flush()` means delivered when the backend answers.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use std::time::Duration;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_delivery_wait(Duration::from_millis(500)).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_delivery_wait(mut self, wait: Duration) -> Self {
        self.config.delivery_wait = wait;
        self
    }

    /// The longest pause after failed exports (default 15 s; the first is 1 s).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use std::time::Duration;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_max_backoff(Duration::from_secs(5)).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.config.max_backoff = max;
        self
    }

    /// The resource spans are exported with (default: the SDK's, from `OTEL_SERVICE_NAME`
    /// and `OTEL_RESOURCE_ATTRIBUTES`).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use opentelemetry_sdk::Resource;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let resource = Resource::builder().with_service_name("support-bot").build();
    /// let otel = OtelHandler::builder(spans.clone()).with_resource(resource).build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The Phoenix project spans go to (`openinference.project.name` on the resource).
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_project("support-bot").build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The zero-code switch's handler: building it turns no switch off.
    pub(crate) fn for_zero_code(mut self) -> Self {
        self.zero_code = true;
        self
    }

    /// The handler.
    ///
    /// A program that builds its own handler exports as it chooses, so the zero-code switch
    /// (see [`install_from_env`](crate::install_from_env)) no longer installs one on the
    /// first traced call, which would export every run a second time; build it before that
    /// call, or call `install_from_env` to have both.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::OtelHandler;
    /// use runtrace_runtime::RunKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spans = InMemorySpanExporter::default();
    /// let otel = OtelHandler::builder(spans.clone()).with_project("support-bot").build();
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// otel.flush().await;
    /// assert_eq!(spans.get_finished_spans()?[0].name, "execute_tool calculator");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn build(self) -> OtelHandler {
        let OtelBuilder { mut exporter, config, resource, project, zero_code } = self;
        if !zero_code {
            crate::env::built_by_the_program();
        }
        let resource = resource.unwrap_or_else(|| Resource::builder().build());
        let resource = match project {
            Some(project) => Resource::builder_empty()
                .with_attributes(resource.iter().map(|(key, value)| KeyValue::new(key.clone(), value.clone())))
                .with_attribute(KeyValue::new(openinference::PROJECT_NAME, project))
                .build(),
            None => resource,
        };
        exporter.set_resource(&resource);
        let scope = InstrumentationScope::builder("runtrace").with_version(env!("CARGO_PKG_VERSION")).build();
        let core = Arc::new(Core {
            limits: Limits { max_len: config.max_attribute_len },
            pipeline: Arc::new(Pipeline::new(Box::new(exporter), &config)),
            config,
            scope,
            state: Mutex::new(State::default()),
            parents: Mutex::new(HashMap::new()),
            orphans: AtomicU64::new(0),
        });
        let capture = RegisteredHandler::new(ParentCapture::new(Arc::clone(&core)));
        let export = Background::new(ExportPart { core: Arc::clone(&core) })
            .with_capacity(core.config.event_queue)
            .with_overflow(Overflow::DropNewest)
            .into_handler();
        OtelHandler { core, capture, export }
    }
}

/// What both parts share.
pub(crate) struct Core {
    config: Config,
    limits: Limits,
    scope: InstrumentationScope,
    state: Mutex<State>,
    /// Root runs' OpenTelemetry parents, read by the sync part, taken by the background one.
    parents: Mutex<HashMap<RunId, SpanContext>>,
    /// Events of runs this handler never saw start (their start was dropped).
    orphans: AtomicU64,
    pub(crate) pipeline: Arc<Pipeline>,
}

#[derive(Default)]
struct State {
    open: HashMap<RunId, OpenRun>,
    traces: HashMap<RunId, Trace>,
}

/// A trace with runs still open: its OpenTelemetry identity and the dotted orders of its
/// ended runs.
struct Trace {
    trace_id: TraceId,
    flags: TraceFlags,
    trace_state: TraceState,
    open: usize,
    ended: HashMap<RunId, Arc<str>>,
}

impl Core {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sync part's hand-over: bounded, so that parents of starts the background never
    /// got cannot pile up.
    pub(crate) fn remember_parent(&self, run: RunId, parent: SpanContext) {
        let mut parents = self.parents.lock().unwrap_or_else(PoisonError::into_inner);
        if parents.len() < self.config.max_open_runs {
            parents.insert(run, parent);
        }
    }

    fn take_parent(&self, run: RunId) -> Option<SpanContext> {
        self.parents.lock().unwrap_or_else(PoisonError::into_inner).remove(&run)
    }

    fn start(&self, event: &Event<'static>, start: &RunStart<'static>) {
        let info = event.run.as_ref();
        let time = event.time();
        let ambient = if info.parent_run_id.is_none() { self.take_parent(info.run_id) } else { None };
        let mut state = self.state();
        let State { open, traces } = &mut *state;
        let trace = traces.entry(info.trace_id).or_insert_with(|| match &ambient {
            Some(parent) => Trace {
                trace_id: parent.trace_id(),
                flags: TraceFlags::SAMPLED,
                trace_state: parent.trace_state().clone(),
                open: 0,
                ended: HashMap::new(),
            },
            None => Trace {
                trace_id: trace_id_of(info.trace_id),
                flags: TraceFlags::SAMPLED,
                trace_state: TraceState::default(),
                open: 0,
                ended: HashMap::new(),
            },
        });
        trace.open += 1;
        let (parent_span_id, parent_is_remote, parent_order) = match (info.parent_run_id, &ambient) {
            (None, Some(parent)) => (parent.span_id(), parent.is_remote(), None),
            (None, None) => (SpanId::INVALID, false, None),
            (Some(parent), _) => match open.get(&parent) {
                Some(parent_run) => (span_id_of(parent), false, Some(Arc::clone(&parent_run.dotted_order))),
                None => {
                    let ended = trace.ended.get(&parent).cloned();
                    let remote = ended.is_none() && info.parent_dotted_order.is_some();
                    (span_id_of(parent), remote, ended.or_else(|| info.parent_dotted_order.clone()))
                }
            },
        };
        let span =
            SpanContext::new(trace.trace_id, span_id_of(info.run_id), trace.flags, false, trace.trace_state.clone());
        let run = OpenRun {
            info: info.clone(),
            start: time,
            span,
            parent_span_id,
            parent_is_remote,
            dotted_order: dotted_order(parent_order.as_deref().unwrap_or_default(), time, info.run_id).into(),
            inputs: self.config.content.then(|| start.inputs.clone()),
            tags: start.tags.clone(),
            metadata: start.metadata.clone(),
            added_metadata: Map::new(),
            request: start.model.clone(),
            events: Vec::new(),
            dropped_events: 0,
            tokens: 0,
            first_token: None,
            usage: None,
        };
        if open.len() >= self.config.max_open_runs {
            // Runs whose end never came (dropped from a full queue) must not pile up: the
            // oldest open run goes, counted as a dropped span.
            let oldest = open.iter().min_by_key(|(_, run)| run.start).map(|(id, _)| *id);
            if let Some(oldest) = oldest.and_then(|id| open.remove(&id)) {
                release(traces, &oldest, false);
                self.pipeline.note_dropped(1, "too many runs are open at once");
            }
        }
        open.insert(info.run_id, run);
    }

    /// Ends the run of `event`: its span and whether its tree is complete.
    fn finish(
        &self,
        event: &Event<'static>,
        ending: &Ending<'_>,
    ) -> Option<(opentelemetry_sdk::trace::SpanData, bool)> {
        let mut state = self.state();
        let State { open, traces } = &mut *state;
        let Some(run) = open.remove(&event.run.run_id) else {
            self.orphans.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let complete = release(traces, &run, true) || run.info.parent_run_id.is_none();
        drop(state);
        Some((run.finish(event.time(), ending, &self.config, self.limits, &self.scope), complete))
    }

    fn with_open(&self, run: RunId, f: impl FnOnce(&mut OpenRun)) {
        match self.state().open.get_mut(&run) {
            Some(open) => f(open),
            None => {
                self.orphans.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn handle(&self, event: &Event<'static>) {
        self.pipeline.remember_runtime();
        let (config, limits) = (&self.config, self.limits);
        let run = event.run.run_id;
        let ending = match &event.data {
            EventData::Start(start) => return self.start(event, start),
            EventData::End(RunEnd { outputs, model, .. }) => Ending::Output { outputs, model: model.as_deref() },
            EventData::Error(error) => Ending::Failure(error),
            EventData::NewToken(token) => {
                let time = event.time();
                return self.with_open(run, |open| open.token(config, limits, time, token));
            }
            EventData::Text(text) => return self.with_open(run, |open| open.text(config, limits, event.time(), text)),
            EventData::Retry(retry) => return self.with_open(run, |open| open.retry(limits, event.time(), retry)),
            EventData::AgentAction(action) => {
                return self.with_open(run, |open| open.agent_action(config, limits, event.time(), action));
            }
            EventData::AgentFinish(finish) => {
                return self.with_open(run, |open| open.agent_finish(config, limits, event.time(), finish));
            }
            EventData::Custom(custom) => return self.with_open(run, |open| open.custom(limits, event.time(), custom)),
            EventData::Usage(usage) => return self.with_open(run, |open| open.usage = Some(*usage)),
            EventData::Metadata(metadata) => return self.with_open(run, |open| open.add_metadata(metadata)),
            _ => return,
        };
        let Some((span, complete)) = self.finish(event, &ending) else { return };
        let seq = self.pipeline.enqueue(span);
        if complete || self.pipeline.queued() >= self.config.max_batch {
            self.pipeline.deliver(seq, self.config.delivery_wait).await;
        } else {
            self.pipeline.kick_later();
        }
    }
}

/// One run of its trace less open; gives whether the trace has no open run left (and was
/// forgotten). `keep_order` keeps the run's dotted order for children yet to start.
fn release(traces: &mut HashMap<RunId, Trace>, run: &OpenRun, keep_order: bool) -> bool {
    let Some(trace) = traces.get_mut(&run.info.trace_id) else { return true };
    trace.open = trace.open.saturating_sub(1);
    if trace.open == 0 {
        traces.remove(&run.info.trace_id);
        return true;
    }
    if keep_order && trace.ended.len() < MAX_ENDED_PER_TRACE {
        trace.ended.insert(run.info.run_id, Arc::clone(&run.dotted_order));
    }
    false
}

/// The background part: every event, off the traced call's path.
struct ExportPart {
    core: Arc<Core>,
}

impl AsyncCallbackHandler for ExportPart {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            self.core.handle(event).await;
            Ok(())
        })
    }

    /// Inputs and outputs become attributes only with message content on; with it off, the
    /// traced call need not serialize them for this part's copy of each event. Model data,
    /// which spans carry either way, is typed and copied regardless.
    fn ignore(&self) -> Ignore {
        if self.core.config.content { Ignore::NONE } else { Ignore::PAYLOADS }
    }

    fn name(&self) -> &str {
        "runtrace_otel::OtelHandler"
    }
}
