//! What a failing handler returns.

/// What a handler returns when it fails: any error, boxed.
///
/// ```
/// let error: runtrace_runtime::handlers::HandlerError = "token budget exceeded".into();
/// assert_eq!(error.to_string(), "token budget exceeded");
/// ```
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every handler method returns.
///
/// Any error converts with `?`:
///
/// ```
/// use std::sync::Mutex;
/// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, RunKind};
/// use runtrace_runtime::event::RunEnd;
/// use runtrace_runtime::handlers::HandlerResult;
///
/// /// Writes each run's output as a line of JSON.
/// #[derive(Default)]
/// struct OutputLog(Mutex<Vec<String>>);
///
/// impl CallbackHandler for OutputLog {
///     fn on_run_end(&self, _event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
///         let line = serde_json::to_string(end.outputs.get())?;
///         self.0.lock().map_err(|_| "the log's lock is poisoned")?.push(line);
///         Ok(())
///     }
/// }
///
/// let log = std::sync::Arc::new(OutputLog::default());
/// let callbacks = CallbackManager::new().with_handler(log.clone());
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&serde_json::json!({"sum": 4}))?;
/// assert_eq!(log.0.lock().unwrap()[0], r#"{"sum":4}"#);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
pub type HandlerResult = Result<(), HandlerError>;
