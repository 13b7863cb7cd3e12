//! The workload both benchmarks measure: one top-level call of a 3-level nested call
//! (`outer` → `middle` → `inner`, each returning a small value), written once per
//! instrumentation, and the handlers, layers and reporters the configurations use.
//!
//! Every function is `#[inline(never)]`, so each variant pays for three real calls and the
//! plain baseline is a call, not a constant folded away.

#![allow(dead_code)] // each bench binary uses its own part of this module

use std::sync::Mutex;
use std::time::Instant;

use runtrace::Event;
use runtrace::handlers::{BoxFuture, HandlerResult};
use runtrace::prelude::*;

/// Traced runs (and spans) per top-level call.
pub const RUNS_PER_CALL: u64 = 3;

// ---------------------------------------------------------------------------------------
// Plain functions: the baseline.

pub mod stream;

pub mod plain {
    #[inline(never)]
    pub fn outer(x: u64) -> u64 {
        middle(x) + 1
    }

    #[inline(never)]
    fn middle(x: u64) -> u64 {
        inner(x) * 2
    }

    #[inline(never)]
    fn inner(x: u64) -> u64 {
        x + 3
    }

    #[inline(never)]
    pub async fn outer_async(x: u64) -> u64 {
        middle_async(x).await + 1
    }

    #[inline(never)]
    async fn middle_async(x: u64) -> u64 {
        inner_async(x).await * 2
    }

    #[inline(never)]
    async fn inner_async(x: u64) -> u64 {
        x + 3
    }
}

// ---------------------------------------------------------------------------------------
// runtrace: `#[traced_run]`, each run a child of the one above through `run`.

pub mod traced {
    use runtrace::prelude::*;

    #[traced_run(kind = "chain")]
    #[inline(never)]
    pub fn outer(x: u64, run: &RunManager) -> u64 {
        middle(x, run) + 1
    }

    #[traced_run(kind = "chain")]
    #[inline(never)]
    fn middle(x: u64, run: &RunManager) -> u64 {
        inner(x, run) * 2
    }

    #[traced_run(kind = "tool")]
    #[inline(never)]
    fn inner(x: u64) -> u64 {
        x + 3
    }

    #[traced_run(kind = "chain")]
    #[inline(never)]
    pub async fn outer_async(x: u64, run: &RunManager) -> u64 {
        middle_async(x, run).await + 1
    }

    #[traced_run(kind = "chain")]
    #[inline(never)]
    async fn middle_async(x: u64, run: &RunManager) -> u64 {
        inner_async(x, run).await * 2
    }

    #[traced_run(kind = "tool")]
    #[inline(never)]
    async fn inner_async(x: u64) -> u64 {
        x + 3
    }
}

// ---------------------------------------------------------------------------------------
// runtrace, trees of any depth: `descend(levels, ..)` is a chain of `levels` nested runs, so a
// call at depth 30 costs per run what one at depth 3 does only if depth itself is free.

pub mod deep {
    use runtrace::prelude::*;

    /// The depths the depth rows compare.
    pub const SHALLOW: u64 = 3;
    pub const DEEP: u64 = 30;

    #[traced_run(kind = "chain")]
    #[inline(never)]
    pub fn descend(levels: u64, run: &RunManager) -> u64 {
        if levels <= 1 { 1 } else { descend(levels - 1, run) + 1 }
    }
}

// ---------------------------------------------------------------------------------------
// runtrace, the same tree ending in a model run: `inner` is a chat model whose reply reports
// its token usage (a `ModelOutput`), as a model client's response does.

pub mod model {
    use runtrace::event::{ModelOutput, Usage};
    use runtrace::prelude::*;

    /// A model's reply: its text's stand-in, and the tokens it billed.
    #[derive(serde::Serialize)]
    pub struct Reply(pub u64);

    impl ModelOutput for Reply {
        fn usage(&self) -> Option<Usage> {
            Some(Usage::new(self.0, 3))
        }
    }

    #[traced_run(kind = "chain")]
    #[inline(never)]
    pub fn outer(x: u64, run: &RunManager) -> u64 {
        middle(x, run) + 1
    }

    #[traced_run(kind = "chain")]
    #[inline(never)]
    fn middle(x: u64, run: &RunManager) -> u64 {
        inner(x, run).0 * 2
    }

    #[traced_run(kind = "chat_model", model = "gpt-4o-mini", provider = "openai")]
    #[inline(never)]
    fn inner(x: u64) -> Reply {
        Reply(x + 3)
    }
}

// ---------------------------------------------------------------------------------------
// tracing: `#[instrument]` (records `x` as a field, as `#[traced_run]` records its inputs).

pub mod instrumented {
    #[tracing::instrument]
    #[inline(never)]
    pub fn outer(x: u64) -> u64 {
        middle(x) + 1
    }

    #[tracing::instrument]
    #[inline(never)]
    fn middle(x: u64) -> u64 {
        inner(x) * 2
    }

    #[tracing::instrument]
    #[inline(never)]
    fn inner(x: u64) -> u64 {
        x + 3
    }

    #[tracing::instrument]
    #[inline(never)]
    pub async fn outer_async(x: u64) -> u64 {
        middle_async(x).await + 1
    }

    #[tracing::instrument]
    #[inline(never)]
    async fn middle_async(x: u64) -> u64 {
        inner_async(x).await * 2
    }

    #[tracing::instrument]
    #[inline(never)]
    async fn inner_async(x: u64) -> u64 {
        x + 3
    }
}

// ---------------------------------------------------------------------------------------
// fastrace: `#[trace]`.

pub mod fastraced {
    #[fastrace::trace]
    #[inline(never)]
    pub fn outer(x: u64) -> u64 {
        middle(x) + 1
    }

    #[fastrace::trace]
    #[inline(never)]
    fn middle(x: u64) -> u64 {
        inner(x) * 2
    }

    #[fastrace::trace]
    #[inline(never)]
    fn inner(x: u64) -> u64 {
        x + 3
    }

    #[fastrace::trace]
    #[inline(never)]
    pub async fn outer_async(x: u64) -> u64 {
        middle_async(x).await + 1
    }

    #[fastrace::trace]
    #[inline(never)]
    async fn middle_async(x: u64) -> u64 {
        inner_async(x).await * 2
    }

    #[fastrace::trace]
    #[inline(never)]
    async fn inner_async(x: u64) -> u64 {
        x + 3
    }
}

// ---------------------------------------------------------------------------------------
// runtrace handlers.

/// A sync handler that does nothing: the cost of dispatch itself.
pub struct Noop;

impl CallbackHandler for Noop {}

/// An async handler that does nothing: the cost of handing events to the background.
pub struct NoopAsync;

impl AsyncCallbackHandler for NoopAsync {
    fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async { Ok(()) })
    }
}

/// [`NoopAsync`] that says so: it reads no inputs or outputs (`Ignore::PAYLOADS`), so the
/// traced call does not serialize them for it, as a handler that counts runs or tokens.
pub struct NoopAsyncLean;

impl AsyncCallbackHandler for NoopAsyncLean {
    fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async { Ok(()) })
    }

    fn ignore(&self) -> Ignore {
        Ignore::PAYLOADS
    }
}

/// How many top-level calls pass between two flushes of the async handler (or two drains of
/// the recorder): the flush's cost is spread over them, as a program's final flush is spread
/// over its runs.
pub const BATCH: u32 = 256;

/// A manager with one [`NoopAsync`] handler whose queue holds the events of a whole batch
/// of calls, so that no call waits for the handler.
pub fn noop_async_unbounded() -> CallbackManager {
    unbounded(NoopAsync)
}

/// [`noop_async_unbounded`] with [`NoopAsyncLean`].
pub fn noop_async_lean_unbounded() -> CallbackManager {
    unbounded(NoopAsyncLean)
}

fn unbounded(handler: impl AsyncCallbackHandler) -> CallbackManager {
    let events_per_call = 2 * RUNS_PER_CALL as usize;
    CallbackManager::new()
        .with_handler(runtrace::background::Background::new(handler).with_capacity(BATCH as usize * events_per_call))
}

/// An exporter that drops every finished tree: the tracer's cost is building the trees.
pub struct DiscardExporter;

impl runtrace::tracer::Exporter for DiscardExporter {
    fn export(&self, tree: &runtrace::tracer::RunTree) -> Result<(), runtrace::tracer::ExportError> {
        std::hint::black_box(tree);
        Ok(())
    }
}

/// A tracer building full run trees (inputs `{"x": ..}` and outputs as JSON), then
/// discarding them.
pub fn tracer() -> runtrace::tracer::Tracer {
    runtrace::tracer::Tracer::new(DiscardExporter)
}

// ---------------------------------------------------------------------------------------
// OpenTelemetry export (the facade's `otel` feature): runtrace's `OtelHandler` and `tracing` +
// `tracing-opentelemetry`, each to a no-op exporter that counts the spans it is handed.

#[cfg(feature = "otel")]
pub mod otel {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
    use runtrace::otel::OtelHandler;
    use tracing_subscriber::layer::SubscriberExt;

    use super::BATCH;

    /// How long a flush may take before the bench gives up on it.
    pub const FLUSH: Duration = Duration::from_secs(10);

    /// Takes every batch and drops it, counting its spans: a run that ends with fewer spans
    /// exported than it made lost some to a full queue, and its figures do not count.
    #[derive(Clone, Debug, Default)]
    pub struct NoopExporter {
        spans: Arc<AtomicU64>,
    }

    impl NoopExporter {
        /// The spans handed to this exporter (or its clones) so far.
        pub fn spans(&self) -> u64 {
            self.spans.load(Ordering::Relaxed)
        }
    }

    impl SpanExporter for NoopExporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
            drop(std::hint::black_box(batch));
            Ok(())
        }
    }

    /// runtrace's exporter, content capture off (the default), with an event queue that
    /// holds a whole batch of calls.
    pub fn otel_handler(exporter: NoopExporter) -> OtelHandler {
        OtelHandler::builder(exporter).with_event_queue(BATCH as usize * 16).build()
    }

    /// A provider whose batch processor queues a whole batch of calls' spans.
    pub fn provider(exporter: NoopExporter) -> SdkTracerProvider {
        let config = BatchConfigBuilder::default().with_max_queue_size(BATCH as usize * 8).build();
        SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(config).build())
            .build()
    }

    /// Makes `tracing` + `tracing-opentelemetry`, exporting through `provider`, this
    /// thread's subscriber until the guard drops.
    pub fn tracing_otel(provider: &SdkTracerProvider) -> tracing::subscriber::DefaultGuard {
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
    }
}

// ---------------------------------------------------------------------------------------
// tracing layers.

pub mod layers {
    use std::sync::Arc;

    use super::{Instant, Mutex};
    use tracing::span::{Attributes, Id};
    use tracing::{Subscriber, field};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;

    /// A layer that does nothing on span creation and close: the cost of the registry.
    pub struct NoopLayer;

    impl<S: Subscriber> Layer<S> for NoopLayer {
        fn on_new_span(&self, _attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {}
        fn on_close(&self, _id: Id, _ctx: Context<'_, S>) {}
    }

    /// What [`StoringLayer`] keeps of a span: what a tracer keeps of a run.
    pub struct SpanRecord {
        pub name: &'static str,
        pub fields: String,
        pub parent: Option<u64>,
        pub start: Instant,
        pub end: Option<Instant>,
    }

    /// A layer that stores a record per span (name, fields, parent, start and end time):
    /// the `tracing` counterpart of a tracer building run trees.
    #[derive(Default)]
    pub struct StoringLayer {
        pub finished: Arc<Mutex<Vec<SpanRecord>>>,
    }

    struct Fields<'a>(&'a mut String);

    impl field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
            use std::fmt::Write;
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StoringLayer {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let Some(span) = ctx.span(id) else { return };
            let mut fields = String::new();
            attrs.record(&mut Fields(&mut fields));
            let parent = span.parent().map(|parent| parent.id().into_u64());
            let record = SpanRecord { name: attrs.metadata().name(), fields, parent, start: Instant::now(), end: None };
            span.extensions_mut().insert(record);
        }

        fn on_close(&self, id: Id, ctx: Context<'_, S>) {
            let Some(span) = ctx.span(&id) else { return };
            if let Some(mut record) = span.extensions_mut().remove::<SpanRecord>() {
                record.end = Some(Instant::now());
                self.finished.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(record);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// fastrace reporter.

/// A reporter that drops every span it gets.
pub struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        drop(spans);
    }
}

/// Installs [`DiscardReporter`] once for the process.
pub fn install_discard_reporter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default()));
}

/// One top-level fastrace call under a root span, as a traced request runs.
#[inline(never)]
pub fn fastrace_rooted(x: u64) -> u64 {
    use fastrace::prelude::*;
    let root = Span::root("request", SpanContext::random());
    let _guard = root.set_local_parent();
    fastraced::outer(x)
}

/// [`fastrace_rooted`] for async code.
pub async fn fastrace_rooted_async(x: u64) -> u64 {
    use fastrace::prelude::*;
    let root = Span::root("request", SpanContext::random());
    fastraced::outer_async(x).in_span(root).await
}
