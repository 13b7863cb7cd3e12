//! [`TracingBridge`]: each run a `tracing` span, nested as the runs are, current while a
//! traced function's body runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing::Span;
use tracing::field::Empty;

use crate::dispatch::RegisteredHandler;
use crate::event::{Event, IdMap, ModelOutcome, RunEnd, RunError, RunId, RunStart, Usage};
use crate::handler::{CallbackHandler, HandlerResult};
use crate::stripe::STRIPES;

/// Set, for good, when the first [`TracingBridge`] is made: until then a traced call does not
/// look among its handlers for a bridge, so programs without one pay nothing for it.
static BRIDGE_MADE: AtomicBool = AtomicBool::new(false);

/// Makes each run it hears a `tracing` span, so that runs show in every `tracing` subscriber
/// (`tracing_subscriber::fmt`, `tracing-tree`, a flame graph) and the log lines and library
/// spans of a traced function nest under its run.
///
/// Every span is named `run` (a span's name is static in `tracing`) and carries the run's
/// own name in `otel.name`, which `tracing-opentelemetry` and others take as the span's name.
/// Its fields, all declared when the span is made:
///
/// | field | value |
/// |---|---|
/// | `otel.name` | the run's name |
/// | `run_id`, `trace_id`, `parent_run_id` | the run's identity (`parent_run_id` empty for a root) |
/// | `run.kind` | `chain`, `llm`, `tool`, ... |
/// | `gen_ai.request.model`, `gen_ai.provider.name` | what a model run asked for |
/// | `gen_ai.response.model` | the model that answered, when the response says |
/// | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `gen_ai.usage.total_tokens` | the last usage a model run reported, or its end's |
/// | `error` | the message of a failed, panicked or cancelled run |
///
/// A failed run also logs one `tracing::error!` event in its span. A child run's span has its
/// parent run's span as parent, on whatever thread or task it starts; a root run's span, or a
/// run whose parent this bridge did not hear (one read from headers), has the span current
/// where it starts. A run's span closes when the run ends, fails or is cancelled, once.
///
/// While the body of a `#[traced_run]` function runs (each poll of an `async fn`), its run's
/// span is the current span. For that, the bridge must be among the run's own handlers:
/// request callbacks are, for every run nested in the request. Until a bridge is made, no
/// traced call looks for one, and a call that no handler hears never does.
///
/// # With `#[tracing::instrument]`
///
/// The two attributes stack, and each call then makes two spans. Attributes expand from the
/// top, each keeping those below it on the function it writes, so the lower one wraps the
/// upper one's code. Written above `#[traced_run]`, `#[tracing::instrument]` makes its span
/// inside the run, a child of the run's span, and the body logs in it; written below, its
/// span wraps the whole traced call, the run's span is its child, and the body logs in the
/// run's span. Keep `instrument` only for what the bridge does not record.
///
/// # With OpenTelemetry
///
/// `runtrace-otel` exports runs as OpenTelemetry spans with the GenAI attributes. When it is
/// on, do not also export the bridge's spans through `tracing-opentelemetry`: the same run
/// would reach the backend twice, once per exporter. Use the bridge for logs and local
/// subscribers and `runtrace-otel` for export, or, to export through `tracing-opentelemetry`
/// alone, leave `runtrace-otel` off.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::TracingBridge;
///
/// // A program calls `tracing_subscriber::fmt().init()` once; every run shows in its output.
/// let subscriber = tracing_subscriber::fmt().with_writer(std::io::sink).finish();
/// let _default = tracing::subscriber::set_default(subscriber);
///
/// let bridge = Arc::new(TracingBridge::new());
/// let callbacks = CallbackManager::new().with_handler(bridge.clone());
/// let run = callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?;
///
/// // `#[traced_run]` enters the run's span around its body; a run started by hand can too.
/// let span = bridge.span(run.run_id().unwrap()).unwrap();
/// span.in_scope(|| {
///     assert_eq!(tracing::Span::current().id(), span.id());
///     tracing::info!("adding"); // logged as `run{otel.name="calculator" ...}: adding`
/// });
/// run.end(&4)?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Debug)]
pub struct TracingBridge {
    /// The span of each run started and not yet ended, in the map of the stripe its id
    /// names (see `crate::stripe`): threads that start runs at once lock maps of their own.
    /// Dropping an entry drops the bridge's handle of the span, which closes once the body's
    /// handle is gone too.
    spans: [Spans; STRIPES],
}

/// One stripe's map, on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Spans(Mutex<IdMap<Span>>);

impl Default for TracingBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingBridge {
    /// A bridge with no runs open. Making one switches on, for the whole process, the search
    /// for a bridge among a recorded run's handlers when its traced body starts.
    ///
    /// ```
    /// use runtrace_runtime::handlers::TracingBridge;
    /// let bridge = TracingBridge::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        BRIDGE_MADE.store(true, Ordering::Relaxed);
        TracingBridge { spans: std::array::from_fn(|_| Spans::default()) }
    }

    /// The span of the open run `run_id`, if this bridge heard it start.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::TracingBridge;
    ///
    /// let bridge = Arc::new(TracingBridge::new());
    /// let run = CallbackManager::new().with_handler(bridge.clone()).start_run(RunKind::Tool, "t", &1)?;
    /// let run_id = run.run_id().unwrap();
    /// assert!(bridge.span(run_id).is_some());
    /// run.end(&2)?;
    /// assert!(bridge.span(run_id).is_none());
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn span(&self, run_id: RunId) -> Option<Span> {
        self.lock(run_id).get(&run_id).cloned()
    }

    /// The map that holds the span of `run_id`.
    fn lock(&self, run_id: RunId) -> MutexGuard<'_, IdMap<Span>> {
        // A panic elsewhere while holding the map leaves it whole: entries are single inserts
        // and removals.
        self.spans[run_id.stripe()].0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record_usage(span: &Span, usage: &Usage) {
        span.record("gen_ai.usage.input_tokens", usage.input_tokens);
        span.record("gen_ai.usage.output_tokens", usage.output_tokens);
        span.record("gen_ai.usage.total_tokens", usage.total_tokens);
    }
}

impl CallbackHandler for TracingBridge {
    fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
        let run = &event.run;
        // The parent's map stays locked while the span is made: the parent's span cannot
        // close before its child holds it, and its id is read without cloning the span.
        let parents = run.parent_run_id.map(|parent| (parent, self.lock(parent)));
        let parent = match parents.as_ref().and_then(|(parent, spans)| spans.get(parent)) {
            Some(parent) => parent.id(),
            // A root, or a child whose parent this bridge did not hear (a remote parent, read
            // from headers), nests under what the caller is doing.
            None => tracing::dispatcher::get_default(|dispatch| dispatch.current_span().id().cloned()),
        };
        let request = start.model.as_deref();
        let model = request.and_then(|request| request.model.as_deref());
        let provider = request.and_then(|request| request.provider.as_deref());
        // What is known at the start goes in with the span: each later `record` is another
        // call into the subscriber. A field given `None` stays unrecorded.
        let span = tracing::info_span!(
            parent: parent,
            "run",
            otel.name = %run.name,
            run_id = %run.run_id,
            trace_id = %run.trace_id,
            parent_run_id = run.parent_run_id.map(tracing::field::display),
            run.kind = run.kind.as_str(),
            gen_ai.request.model = model,
            gen_ai.provider.name = provider,
            gen_ai.response.model = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.total_tokens = Empty,
            error = Empty,
        );
        // Released first: the run's own map may be the same one.
        drop(parents);
        self.lock(run.run_id).insert(run.run_id, span);
        Ok(())
    }

    fn on_usage(&self, event: &Event<'_>, usage: &Usage) -> HandlerResult {
        if let Some(span) = self.lock(event.run.run_id).get(&event.run.run_id) {
            Self::record_usage(span, usage);
        }
        Ok(())
    }

    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        let Some(span) = self.lock(event.run.run_id).remove(&event.run.run_id) else { return Ok(()) };
        if let Some(ModelOutcome { response, usage, .. }) = end.model.as_deref() {
            if let Some(model) = response.as_ref().and_then(|response| response.model.as_deref()) {
                span.record("gen_ai.response.model", model);
            }
            if let Some(usage) = usage {
                Self::record_usage(&span, usage);
            }
        }
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, error: &RunError) -> HandlerResult {
        let Some(span) = self.lock(event.run.run_id).remove(&event.run.run_id) else { return Ok(()) };
        span.record("error", tracing::field::display(&error.message));
        tracing::error!(parent: &span, error = %error.message, cause = ?error.cause, "run failed");
        Ok(())
    }

    fn name(&self) -> &str {
        "TracingBridge"
    }
}

/// Whether a [`TracingBridge`] was ever made in this process: until one is, no run looks for
/// a span.
#[inline]
pub(crate) fn bridge_made() -> bool {
    BRIDGE_MADE.load(Ordering::Relaxed)
}

/// The bridges among `handlers`.
fn bridges(handlers: &[RegisteredHandler]) -> impl Iterator<Item = &TracingBridge> {
    handlers.iter().filter_map(|handler| handler.as_any()?.downcast_ref::<TracingBridge>())
}

/// Calls `f` with the id and subscriber of run `run_id`'s span, if a bridge among `handlers`
/// has one. The span is borrowed under the bridge's lock, not cloned: a clone and its drop
/// are two more calls into the subscriber, for each enter and each exit of a body (each
/// poll of an async one). Out of line and cold: a traced call asks only once
/// [`bridge_made`] says a bridge exists.
#[cold]
#[inline(never)]
pub(crate) fn on_span(handlers: &[RegisteredHandler], run_id: RunId, f: fn((&tracing::Id, &tracing::Dispatch))) {
    for bridge in bridges(handlers) {
        if let Some(span) = bridge.lock(run_id).get(&run_id) {
            span.with_subscriber(f);
            return;
        }
    }
}
