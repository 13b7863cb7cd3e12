//! [`RunGuard`]: makes sure every started run gets exactly one end or error.

use std::any::Any;
use std::fmt::Display;
use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::run_manager::RunManager;
use crate::dispatch::report::{panic_message, report_unraisable};
use crate::error::CallbackError;
use crate::event::payload::record;
use crate::event::render;
use crate::event::{ErrorCause, EventData, ModelOutput, Payload, RunEnd, RunError};
use crate::handler::Ignore;

/// A started run that has not ended yet. End it with [`end`](Self::end) or
/// [`error`](Self::error); dropped unended, it sends an error event itself, saying that the
/// run panicked (when dropped by an unwinding panic) or was cancelled (a dropped future).
///
/// It dereferences to the run's [`RunManager`].
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::event::ErrorCause;
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// drop(callbacks.start_run(RunKind::Llm, "slow_model", &"hi")?); // e.g. a timeout dropped the future
///
/// let events = recorder.events();
/// assert!(matches!(&events[1].data, EventData::Error(e) if e.cause == ErrorCause::Cancelled));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[must_use = "dropping the guard at once records the run as cancelled"]
#[derive(Debug)]
pub struct RunGuard {
    run: RunManager,
    open: bool,
}

impl RunGuard {
    pub(crate) fn new(run: RunManager) -> Self {
        RunGuard { run, open: true }
    }

    /// The guard of a run that no handler hears.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunGuard, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// /// Traces a step only when asked to.
    /// fn start_step(callbacks: &CallbackManager, traced: bool) -> Result<RunGuard, CallbackError> {
    ///     if !traced {
    ///         return Ok(RunGuard::noop());
    ///     }
    ///     callbacks.start_run(RunKind::Tool, "calculator", &"2+2")
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let step = start_step(&callbacks, false)?;
    /// assert!(!step.is_recording());
    /// step.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub const fn noop() -> Self {
        RunGuard { run: RunManager::noop(), open: false }
    }

    /// The run's manager.
    ///
    /// Helpers take the `&RunManager`, which the guard also derefs to; the guard itself stays with
    /// the code that ends the run:
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind, RunManager};
    ///
    /// fn stream_answer(run: &RunManager) -> Result<String, runtrace_runtime::CallbackError> {
    ///     let mut answer = String::new();
    ///     for token in ["Hel", "lo"] {
    ///         run.on_llm_new_token(token)?;
    ///         answer += token;
    ///     }
    ///     Ok(answer)
    /// }
    ///
    /// let llm = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// let answer = stream_answer(llm.run())?;
    /// llm.end(&answer)?;
    /// assert_eq!(answer, "Hello");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn run(&self) -> &RunManager {
        &self.run
    }

    /// Ends the run with `outputs`, recorded as JSON if a handler reads them.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the end event.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// run.end(&4)?;
    /// assert!(matches!(&recorder.events()[1].data, EventData::End(end) if end.outputs.get() == 4));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn end<T>(self, outputs: &T) -> Result<(), CallbackError>
    where
        T: Serialize + Sync + ?Sized,
    {
        self.end_with(&|| record(outputs))
    }

    /// Ends the run with outputs made by `outputs` if a handler reads them.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the end event.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.end_with(&|| serde_json::json!({"text": "Hello"}))?; // no handler: never called
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[inline]
    pub fn end_with(mut self, outputs: &(dyn Fn() -> Value + Sync)) -> Result<(), CallbackError> {
        self.open = false;
        // Inlined up to here, so that a traced call no handler hears ends with one check:
        // no event is built, dropped, or passed to a call.
        if !self.run.is_recording() {
            return Ok(());
        }
        self.emit_end(outputs, None)
    }

    /// [`end_with`](Self::end_with) for a value that may know its model usage and response
    /// (`#[traced_run]` passes the returned value when its type is a [`ModelOutput`]).
    #[inline]
    pub(crate) fn end_with_output(
        mut self,
        outputs: &(dyn Fn() -> Value + Sync),
        output: Option<&dyn ModelOutput>,
    ) -> Result<(), CallbackError> {
        self.open = false;
        if !self.run.is_recording() {
            return Ok(());
        }
        self.emit_end(outputs, output)
    }

    /// Sends the end event; a model run's carries its outcome, the returned value's usage
    /// and response replacing what the run reported, as the final word on the call.
    fn emit_end(
        &self,
        outputs: &(dyn Fn() -> Value + Sync),
        output: Option<&dyn ModelOutput>,
    ) -> Result<(), CallbackError> {
        let model = self.run.model().map(|state| {
            if let Some(output) = output {
                if let Some(usage) = output.usage() {
                    state.report_usage(usage);
                }
                if let Some(response) = output.response() {
                    state.report_response(response);
                }
            }
            Arc::new(state.end())
        });
        self.run.emit(EventData::End(RunEnd { outputs: Payload::deferred(outputs), model }))
    }

    /// Ends the run with `error`, rendered with `Display`, recording its type.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::ErrorCause;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Tool, "search", &"rust")?;
    /// run.error("the index is offline")?;
    /// let events = recorder.events();
    /// let EventData::Error(error) = &events[1].data else { unreachable!() };
    /// assert_eq!((error.message.as_str(), error.cause), ("the index is offline", ErrorCause::Returned));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn error<E: Display + ?Sized>(self, error: &E) -> Result<(), CallbackError> {
        let type_name = std::any::type_name::<E>();
        self.fail_with(|| RunError::new(render::display(error), ErrorCause::Returned).with_type_name(type_name))
    }

    /// Ends the run with a prepared [`RunError`].
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ErrorCause, RunError};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.fail(RunError::new("rate limited", ErrorCause::Returned).with_type_name("HttpError"))?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn fail(self, error: RunError) -> Result<(), CallbackError> {
        self.fail_with(|| error)
    }

    /// Ends the run with the error `render` makes, made only if a handler hears the run.
    ///
    /// A run that a handler asked to stop (it raised while the run went on, and the run's
    /// code handed the [`CallbackError`] on, say with `?`) and that then fails with
    /// [`ErrorCause::Returned`] is recorded as [`ErrorCause::Stopped`]: what a token budget
    /// and its users look for.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ErrorCause, RunError};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Tool, "search", &"rust")?;
    /// run.fail_with(|| RunError::new("never rendered: no handler", ErrorCause::Returned))?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn fail_with(mut self, render: impl FnOnce() -> RunError) -> Result<(), CallbackError> {
        self.open = false;
        if !self.run.kind().is_some_and(|kind| self.run.hears(Ignore::kind(kind))) {
            return Ok(());
        }
        let mut error = render();
        if error.cause == ErrorCause::Returned && self.run.was_stopped() {
            error.cause = ErrorCause::Stopped;
        }
        self.emit_error(error)
    }

    /// Ends the run because it panicked with `payload`; the caller resumes the panic after.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Tool, "parse", &"{")?;
    /// let caught = std::panic::catch_unwind(|| panic!("bad input"));
    /// if let Err(payload) = caught {
    ///     run.panicked(&*payload); // then resume_unwind(payload) to go on panicking
    /// }
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn panicked(self, payload: &(dyn Any + Send)) {
        report_unraisable(
            self.fail_with(|| RunError::new(format!("panicked: {}", panic_message(payload)), ErrorCause::Panicked)),
        );
    }
}

impl Deref for RunGuard {
    type Target = RunManager;

    #[inline]
    fn deref(&self) -> &RunManager {
        &self.run
    }
}

impl Drop for RunGuard {
    // Inlined, like `end_with`, so that dropping an ended or unheard guard is one check.
    #[inline]
    fn drop(&mut self) {
        if self.open && self.run.is_recording() {
            self.report_unended();
        }
    }
}

impl RunGuard {
    #[cold]
    #[inline(never)]
    fn report_unended(&self) {
        let error = if std::thread::panicking() {
            RunError::new("panicked", ErrorCause::Panicked)
        } else {
            RunError::new("cancelled: the run was dropped before it finished", ErrorCause::Cancelled)
        };
        report_unraisable(self.emit_error(error));
    }

    /// Sends the error event. A model run's usage so far went out in its `Usage` events;
    /// reports after this one are refused.
    fn emit_error(&self, error: RunError) -> Result<(), CallbackError> {
        if let Some(state) = self.run.model() {
            state.end();
        }
        self.run.emit(EventData::Error(error))
    }
}
