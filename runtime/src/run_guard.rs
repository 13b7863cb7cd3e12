//! [`RunGuard`]: makes sure every started run gets exactly one end or error.

use std::any::Any;
use std::fmt::Display;
use std::ops::Deref;

use serde::Serialize;
use serde_json::Value;

use crate::dispatch::{panic_message, report_unraisable};
use crate::error::CallbackError;
use crate::event::{ErrorCause, EventData, Payload, RunEnd, RunError};
use crate::handler::Ignore;
use crate::record;
use crate::run_manager::RunManager;

/// A started run that has not ended yet. End it with [`end`](Self::end) or
/// [`error`](Self::error); dropped unended, it sends an error event itself, saying that the
/// run panicked (when dropped by an unwinding panic) or was cancelled (a dropped future).
///
/// It dereferences to the run's [`RunManager`].
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, ErrorCause, EventData, RecordingHandler, RunKind};
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
    pub const fn noop() -> Self {
        RunGuard { run: RunManager::noop(), open: false }
    }

    /// The run's manager.
    #[must_use]
    pub fn run(&self) -> &RunManager {
        &self.run
    }

    /// Ends the run with `outputs`.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the end event.
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
    #[inline]
    pub fn end_with(mut self, outputs: &(dyn Fn() -> Value + Sync)) -> Result<(), CallbackError> {
        self.open = false;
        // Inlined up to here, so that a traced call no handler hears ends with one check:
        // no event is built, dropped, or passed to a call.
        if !self.run.is_recording() {
            return Ok(());
        }
        self.run.emit(EventData::End(RunEnd { outputs: Payload::deferred(outputs) }))
    }

    /// Ends the run with `error`, rendered with `Display`, recording its type.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    pub fn error<E: Display + ?Sized>(self, error: &E) -> Result<(), CallbackError> {
        let type_name = std::any::type_name::<E>();
        self.fail_with(|| RunError::new(error.to_string(), ErrorCause::Returned).with_type_name(type_name))
    }

    /// Ends the run with a prepared [`RunError`].
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    pub fn fail(self, error: RunError) -> Result<(), CallbackError> {
        self.fail_with(|| error)
    }

    /// Ends the run with the error `render` makes, made only if a handler hears the run.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the error event.
    pub fn fail_with(mut self, render: impl FnOnce() -> RunError) -> Result<(), CallbackError> {
        self.open = false;
        if !self.run.kind().is_some_and(|kind| self.run.hears(Ignore::kind(kind))) {
            return Ok(());
        }
        self.run.emit(EventData::Error(render()))
    }

    /// Ends the run because it panicked with `payload`; the caller resumes the panic after.
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
        report_unraisable(self.run.emit(EventData::Error(error)));
    }
}
