//! Starting a run: the hot path. The first question is "does anyone listen?"; an id, a
//! clock, the inputs' JSON and the run's state are made only after it says yes.

use std::borrow::Cow;

use serde::Serialize;

use super::ambient;
use super::callback_manager::CallbackManager;
use super::run_guard::RunGuard;
use super::run_manager::RunManager;
use crate::dispatch::report::report_unraisable;
use crate::error::CallbackError;
use crate::event::payload::{Make, record};
use crate::event::render;
use crate::event::{ErrorCause, EventData, Payload, RunError, RunId, RunInfo, RunKind, RunStart};

impl CallbackManager {
    /// Starts a run of `kind` named `name` with `inputs`, sends its start event and returns
    /// the guard that ends it. `#[traced_run]` does this for you.
    ///
    /// With no handlers this draws no id, reads no clock and serializes nothing.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the start event; the run got its error event.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert!(run.run_id().is_none());
    /// run.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn start_run<T>(
        &self,
        kind: RunKind,
        name: impl Into<Cow<'static, str>>,
        inputs: &T,
    ) -> Result<RunGuard, CallbackError>
    where
        T: Serialize + Sync + ?Sized,
    {
        if self.is_empty() && !ambient::ambient_tracer_possible() {
            return Ok(RunGuard::noop());
        }
        self.start(kind, name.into(), Make::Value(&|| record(inputs)))
    }

    pub(crate) fn start(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
    ) -> Result<RunGuard, CallbackError> {
        // A trace scope or `RUNTRACE_TRACE` adds its tracer to every run started inside it
        // that does not inherit it already, as LangChain's `collect_runs` does; a run whose
        // parent that tracer never saw becomes one of its roots. One relaxed load keeps the
        // question off the path of programs with no scope.
        if ambient::watching() {
            if let Some(traced) = ambient::with_ambient_handlers(self) {
                return traced.start_recorded(kind, name, inputs);
            }
        }
        if self.is_empty() {
            return Ok(RunGuard::noop());
        }
        self.start_recorded(kind, name, inputs)
    }

    fn start_recorded(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
    ) -> Result<RunGuard, CallbackError> {
        let run_id = RunId::random();
        let (parent_run_id, trace_id) = match &self.parent {
            Some(parent) => (Some(parent.run_id), parent.trace_id),
            None => (None, run_id),
        };
        let parent_dotted_order = self.remote_dotted_order.clone();
        let info = RunInfo { run_id, parent_run_id, trace_id, kind, name, parent_dotted_order };
        let children = self.callbacks.for_children();
        // The run keeps its own callbacks only when they differ from its children's.
        let own = (!children.same(&self.callbacks)).then(|| self.callbacks.clone());
        let child =
            CallbackManager { callbacks: children, parent: Some(info), remote_dotted_order: None, within_run: true };
        let run = RunManager::new(child, own);
        let set = run.callbacks();
        let start =
            RunStart { inputs: Payload::made_by(inputs), tags: set.tags().clone(), metadata: set.metadata().clone() };
        match run.emit(EventData::Start(start)) {
            Ok(()) => Ok(RunGuard::new(run)),
            Err(error) => {
                // Every start gets exactly one end or error, even when the start is refused.
                report_unraisable(
                    run.emit(EventData::Error(RunError::new(render::display(&error), ErrorCause::Stopped))),
                );
                Err(error)
            }
        }
    }
}
