//! Ambient OpenTelemetry context, both ways: a root run started inside a span becomes its
//! child ([`ParentCapture`]), and a run lends its context to spans other libraries make
//! inside it ([`context_of`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use runtrace_runtime::event::{RunEnd, RunError, RunStart};
use runtrace_runtime::handlers::{HandlerResult, Ignore};
use runtrace_runtime::{CallbackHandler, Event, RunId, RunManager};

use crate::handler::Core;
use crate::ids::{span_id_of, trace_id_of};

/// Trees whose root started inside an OpenTelemetry span, by their runtrace trace id: they
/// belong to that span's trace. Shared by every handler and by [`context_of`], which has no
/// handler at hand; touched at root runs' starts and ends only while some tree is adopted.
static ADOPTED: Mutex<Option<HashMap<RunId, SpanContext>>> = Mutex::new(None);
static ADOPTED_COUNT: AtomicUsize = AtomicUsize::new(0);
const MAX_ADOPTED: usize = 64 * 1024;

fn adopt(root: RunId, parent: &SpanContext) {
    let mut adopted = ADOPTED.lock().unwrap_or_else(PoisonError::into_inner);
    let adopted = adopted.get_or_insert_with(HashMap::new);
    if adopted.len() < MAX_ADOPTED && adopted.insert(root, parent.clone()).is_none() {
        ADOPTED_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

fn release(root: RunId) {
    if ADOPTED_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut adopted = ADOPTED.lock().unwrap_or_else(PoisonError::into_inner);
    if adopted.as_mut().and_then(|adopted| adopted.remove(&root)).is_some() {
        ADOPTED_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

fn adopted_parent(trace: RunId) -> Option<SpanContext> {
    if ADOPTED_COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    ADOPTED.lock().unwrap_or_else(PoisonError::into_inner).as_ref()?.get(&trace).cloned()
}

/// The sync part of an [`OtelHandler`](crate::OtelHandler): at a root run's start, on the
/// caller's thread, it reads the current OpenTelemetry span, which the background part,
/// running later on another thread, cannot see.
pub(crate) struct ParentCapture {
    core: Arc<Core>,
}

impl ParentCapture {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        ParentCapture { core }
    }
}

impl CallbackHandler for ParentCapture {
    fn on_run_start(&self, event: &Event<'_>, _start: &RunStart<'_>) -> HandlerResult {
        if event.run.parent_run_id.is_none() {
            let parent = Context::map_current(|cx| {
                let span = cx.span();
                let parent = span.span_context();
                parent.is_valid().then(|| parent.clone())
            });
            if let Some(parent) = parent {
                adopt(event.run.run_id, &parent);
                self.core.remember_parent(event.run.run_id, parent);
            }
        }
        Ok(())
    }

    fn on_run_end(&self, event: &Event<'_>, _end: &RunEnd<'_>) -> HandlerResult {
        if event.run.parent_run_id.is_none() {
            release(event.run.run_id);
        }
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, _error: &RunError) -> HandlerResult {
        if event.run.parent_run_id.is_none() {
            release(event.run.run_id);
        }
        Ok(())
    }

    /// Only starts and ends matter here; retries and custom events, which every run may
    /// emit many of, need not reach it. (Tokens cannot be left out without the starts and
    /// ends of model runs.)
    fn ignore(&self) -> Ignore {
        Ignore::RETRIES | Ignore::CUSTOM_EVENTS
    }

    fn name(&self) -> &str {
        "runtrace_otel::OtelHandler (context capture)"
    }
}

/// The OpenTelemetry context of a run: the current context with the run's span as a remote
/// parent, built from its ids (see [`trace_id_of`], [`span_id_of`]). Spans other libraries
/// start while it is attached nest under the run, in the same trace, in every backend.
///
/// A run that is not recorded (no handler hears it) has no span: the current context is
/// returned as it is.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
/// let run = callbacks.start_run(RunKind::Tool, "http_fetch", &"https://example.com")?;
/// let cx = runtrace_otel::context_of(&run);
/// let id = run.run_id().unwrap();
/// assert_eq!(cx.span().span_context().span_id(), runtrace_otel::span_id_of(id));
/// assert_eq!(cx.span().span_context().trace_id(), runtrace_otel::trace_id_of(id));
/// let _attached = cx.attach(); // a reqwest or sqlx span made now is the run's child
/// # drop(_attached);
/// run.end(&"ok")?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[must_use]
pub fn context_of(run: &RunManager) -> Context {
    let (Some(run_id), Some(trace)) = (run.run_id(), run.trace_id()) else {
        return Context::current();
    };
    let (trace_id, flags, state) = match adopted_parent(trace) {
        Some(parent) => (parent.trace_id(), TraceFlags::SAMPLED, parent.trace_state().clone()),
        None => (trace_id_of(trace), TraceFlags::SAMPLED, TraceState::default()),
    };
    Context::current().with_remote_span_context(SpanContext::new(trace_id, span_id_of(run_id), flags, true, state))
}
