//! Starting a run: the hot path. The first question is "does anyone listen?"; an id, a
//! clock, the inputs' JSON and the run's state are made only after it says yes.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use super::ambient;
use super::callback_manager::CallbackManager;
use super::model::ModelState;
use super::run_guard::RunGuard;
use super::run_manager::RunManager;
use crate::dispatch::report::report_unraisable;
use crate::error::CallbackError;
use crate::event::payload::{Make, record};
use crate::event::render;
use crate::event::{ErrorCause, EventData, ModelRequest, Payload, RunError, RunId, RunInfo, RunKind, RunStart};

impl CallbackManager {
    /// Starts a run of `kind` named `name` with `inputs`, sends its start event and returns
    /// the guard that ends it. `#[traced_run]` does this for you.
    ///
    /// With no handlers, and no ambient tracer (a trace scope, `RUNTRACE_TRACE` or a process
    /// handler, see [`tracer`](crate::tracer)) that would hear the run, this draws no id,
    /// reads no clock and serializes nothing.
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
        self.start(kind, name.into(), Make::Value(&|| record(inputs)), None)
    }

    /// [`start_run`](Self::start_run) for a model run (`llm`, `chat_model`, `embedding`)
    /// that knows what it asks: `request` (model, provider, parameters, messages) goes in its
    /// start event, made only if a handler hears the run.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the start event; the run got its error event.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::{ModelRequest, Usage};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// let request = || ModelRequest::new("gpt-4o-mini").with_provider("openai");
    /// let run = callbacks.start_model_run(RunKind::ChatModel, "chat", &"Say hello", &request)?;
    /// run.report_usage(Usage::new(9, 2))?;
    /// run.end(&"Hello!")?;
    ///
    /// let events = recorder.events();
    /// let EventData::End(end) = &events[2].data else { unreachable!() };
    /// assert_eq!(end.model.as_ref().and_then(|model| model.usage), Some(Usage::new(9, 2)));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn start_model_run<T>(
        &self,
        kind: RunKind,
        name: impl Into<Cow<'static, str>>,
        inputs: &T,
        request: &dyn Fn() -> ModelRequest,
    ) -> Result<RunGuard, CallbackError>
    where
        T: Serialize + Sync + ?Sized,
    {
        if self.is_empty() && !ambient::ambient_tracer_possible() {
            return Ok(RunGuard::noop());
        }
        self.start(kind, name.into(), Make::Value(&|| record(inputs)), Some(request))
    }

    pub(crate) fn start(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
        request: Option<&dyn Fn() -> ModelRequest>,
    ) -> Result<RunGuard, CallbackError> {
        // A trace scope or `RUNTRACE_TRACE` adds its tracer to every run started inside it
        // that does not inherit it already, as LangChain's `collect_runs` does; a run whose
        // parent that tracer never saw becomes one of its roots. One relaxed load keeps the
        // question off the path of programs with no scope.
        if ambient::watching() {
            if let Some(traced) = ambient::with_ambient_handlers(self) {
                return traced.start_recorded(kind, name, inputs, request);
            }
        }
        if self.is_empty() {
            return Ok(RunGuard::noop());
        }
        self.start_recorded(kind, name, inputs, request)
    }

    fn start_recorded(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
        request: Option<&dyn Fn() -> ModelRequest>,
    ) -> Result<RunGuard, CallbackError> {
        let run_id = match &self.run_id {
            Some(supplied) => supplied.claim(self.handlers())?,
            None => RunId::random(),
        };
        let (parent_run_id, trace_id) = match &self.parent {
            Some(parent) => (Some(parent.run_id), parent.trace_id),
            None => (None, run_id),
        };
        let parent_dotted_order = self.remote_dotted_order.clone();
        // A remote parent, made from headers, holds the project they named (see
        // `From<&TraceContext> for CallbackManager`).
        let parent_project = match (&parent_dotted_order, &self.parent) {
            (Some(_), Some(parent)) => parent.parent_project.clone(),
            _ => None,
        };
        let info = RunInfo { run_id, parent_run_id, trace_id, kind, name, parent_dotted_order, parent_project };
        let children = self.callbacks.for_children();
        // The run keeps its own callbacks only when they differ from its children's.
        let own = (!self.callbacks.inherited_whole()).then(|| self.callbacks.clone());
        let child = CallbackManager {
            callbacks: children,
            parent: Some(info),
            remote_dotted_order: None,
            within_run: true,
            run_id: None,
        };
        let run = RunManager::new(child, own, ModelState::for_kind(kind));
        let set = run.callbacks();
        let start = RunStart {
            inputs: Payload::made_by(inputs),
            tags: set.tags().clone(),
            metadata: set.metadata().clone(),
            model: request.map(|request| Arc::new(request())),
        };
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
