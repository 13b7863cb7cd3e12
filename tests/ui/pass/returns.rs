//! `Result` and plain returns; error types with and without `From<CallbackError>`;
//! `io::Result` and other `Result` aliases; `err(Display)` / `err(Debug)`.
use std::sync::Arc;

use runtrace::prelude::*;

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("division by zero")]
    DivisionByZero,
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

#[derive(Debug)]
struct DebugOnly;

#[traced_run(kind = "tool")]
fn divide(a: f64, b: f64) -> Result<f64, ToolError> {
    if b == 0.0 { Err(ToolError::DivisionByZero) } else { Ok(a / b) }
}

#[traced_run(kind = "tool", err(Debug))]
fn debug_only(fail: bool) -> Result<u8, DebugOnly> {
    if fail { Err(DebugOnly) } else { Ok(1) }
}

#[traced_run(kind = "tool", err(Display))]
fn read(path: String) -> std::io::Result<String> {
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, path))
}

mod app {
    /// A crate's own `Result` alias: detected by its last segment, `Result`.
    pub type Result<T> = std::result::Result<T, String>;
}

#[traced_run(kind = "tool")]
fn aliased(ok: bool) -> app::Result<u8> {
    if ok { Ok(1) } else { Err("no".into()) }
}

#[traced_run(kind = "tool")]
fn fmt_result(out: String) -> std::fmt::Result {
    if out.is_empty() { Err(std::fmt::Error) } else { Ok(()) }
}

#[traced_run(kind = "tool")]
fn boxed(ok: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if ok { Ok(()) } else { Err("boxed".into()) }
}

#[traced_run(kind = "tool")]
fn plain(x: u8) -> Option<u8> {
    x.checked_add(1)
}

/// A handler that stops every run it hears start.
struct Refuse;

impl CallbackHandler for Refuse {
    fn on_run_start(&self, _: &Event<'_>, _: &runtrace::event::RunStart<'_>) -> HandlerResult {
        Err("refused".into())
    }

    fn raise_error(&self) -> bool {
        true
    }
}

fn main() {
    // The refused runs below warn; a subscriber that drops the warnings keeps them off stderr.
    let _quiet = tracing::subscriber::set_default(tracing_subscriber::registry());
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    assert!(divide(1.0, 0.0, &callbacks).is_err());
    assert_eq!(divide(1.0, 2.0, &callbacks).unwrap(), 0.5);
    assert!(debug_only(true, &callbacks).is_err());
    assert!(read("missing".into(), &callbacks).is_err());
    assert!(aliased(false, &callbacks).is_err());
    assert!(fmt_result(String::new(), &callbacks).is_err());
    assert!(boxed(false, &callbacks).is_err());
    assert_eq!(plain(1, &callbacks), Some(2));
    let errors = recorder.event_types().iter().filter(|t| **t == runtrace::event::EventType::Error).count();
    assert_eq!(errors, 6);

    // A raising handler stops a function whose error converts from CallbackError; one whose
    // error does not (io::Error) goes on, the handler's failure being reported.
    let refusing = CallbackManager::new().with_handler(Refuse);
    assert!(matches!(divide(1.0, 2.0, &refusing), Err(ToolError::Callback(_))));
    assert!(read("x".into(), &refusing).is_err());
    assert_eq!(plain(1, &refusing), Some(2));
}
