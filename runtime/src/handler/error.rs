//! What a failing handler returns.

/// What a handler returns when it fails: any error, boxed.
///
/// ```
/// let error: runtrace_runtime::handlers::HandlerError = "token budget exceeded".into();
/// assert_eq!(error.to_string(), "token budget exceeded");
/// ```
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every handler method returns.
pub type HandlerResult = Result<(), HandlerError>;
