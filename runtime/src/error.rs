//! The errors runtrace gives back to the code it traces.

use crate::event::{EventType, RunId};
use crate::handler::HandlerError;

/// An error from the callback system that the traced code gets back.
///
/// A traced function whose error type implements `From<CallbackError>` receives it as its
/// own error; derive it with `thiserror`'s `#[from]`, or use `anyhow::Error` or
/// `Box<dyn Error + Send + Sync>`, which accept it as they are.
///
/// ```
/// use runtrace_runtime::CallbackError;
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("the model failed: {0}")]
///     Model(String),
///     #[error(transparent)]
///     Callback(#[from] CallbackError),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// A handler that opted in with
    /// [`raise_error`](crate::CallbackHandler::raise_error) failed, which stops the run.
    #[error("handler `{handler}` stopped the run at its `{event}` event: {source}")]
    Raised {
        /// The handler's name.
        handler: String,
        /// The event it failed at.
        event: EventType,
        /// Its error; `downcast_ref` it to match on your handler's own error type.
        #[source]
        source: HandlerError,
    },
    /// A custom event was sent from a manager that belongs to no run.
    #[error("custom event `{name}` was sent outside any run: send it from a traced run's manager")]
    NoParentRun {
        /// The event's name.
        name: String,
    },
    /// A run was to start with a [caller-chosen id](crate::CallbackManager::with_run_id) that a
    /// handler still holds a run with (a tracer, until it exported that run's tree). The run
    /// did not start and no handler heard of it; the run that holds the id is untouched.
    #[error(
        "run id {run_id} is in use: handler `{handler}` still holds a run with that id, so the run was not started; \
         choose a new id for each call (`RunId::random()`)"
    )]
    RunIdInUse {
        /// The id asked for.
        run_id: RunId,
        /// The handler that holds a run with it.
        handler: String,
    },
}

impl CallbackError {
    /// The handler's own error, if this error is one a handler raised.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::{BudgetExceeded, TokenBudget};
    ///
    /// let callbacks = CallbackManager::new().with_handler(TokenBudget::streamed(1));
    /// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// let stop = run.on_llm_new_token("lo").unwrap_err();
    /// assert!(stop.handler_error().is_some_and(|error| error.is::<BudgetExceeded>()));
    /// run.error(&stop)?;
    ///
    /// let outside = CallbackManager::none().dispatch_custom_event("progress", &50).unwrap_err();
    /// assert!(outside.handler_error().is_none(), "runtrace's own error, no handler's");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn handler_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            CallbackError::Raised { source, .. } => Some(&**source),
            CallbackError::NoParentRun { .. } | CallbackError::RunIdInUse { .. } => None,
        }
    }
}
