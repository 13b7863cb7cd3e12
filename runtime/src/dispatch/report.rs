//! runtrace's own warnings: a handler that failed (the run goes on), a trace file that
//! cannot be written, events still queued at exit.
//!
//! They go to `tracing` (target `runtrace`, level WARN) when a subscriber takes them there,
//! every time, with their fields. A program without one would never see them, so then each
//! kind of warning is written once on standard error instead: once, because a handler that
//! fails on every event would otherwise bury the program's own output.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt::Display;
use std::sync::{Mutex, PoisonError};

use crate::error::CallbackError;
use crate::event::Event;
use crate::event::render;

/// Reports `message` as a warning: to `tracing` when a subscriber takes runtrace's warnings,
/// else on standard error, the first time a warning with this `key` is reported. The key
/// names the kind of warning and what it is about (a handler, a file), never a run, so that
/// a fault that repeats is told once.
pub(crate) fn warn_once(key: &str, message: &dyn Display) {
    let message = render::display(message);
    if subscribed() {
        tracing::warn!(target: "runtrace", "{message}");
    } else {
        to_stderr_once(key, &message);
    }
}

/// [`warn_once`] for a warning about one handler, named in a `handler` field for the
/// subscribers that filter or count by it; keyed by `kind` and the handler.
pub(crate) fn warn_about_handler(handler: &str, kind: &str, message: &dyn Display) {
    let message = render::display(message);
    if subscribed() {
        tracing::warn!(target: "runtrace", handler, "{message}");
    } else {
        to_stderr_once(&format!("{kind}: {handler}"), &message);
    }
}

/// Reports a handler's failure; the run goes on.
pub(crate) fn report(handler: &str, event: &Event<'_>, error: &dyn Display) {
    // The error's `Display` is the handler's code: a panic in it must not reach the run.
    let error = render::display(error);
    if subscribed() {
        tracing::warn!(
            target: "runtrace",
            handler,
            event = %event.event_type(),
            run = %event.run.name,
            run_id = %event.run.run_id,
            %error,
            "callback handler failed; the run goes on"
        );
    } else {
        to_stderr_once(
            &format!("handler failed: {handler}"),
            &format!(
                "callback handler `{handler}` failed at the {} event of run `{}`: {error}; the run goes on",
                event.event_type(),
                event.run.name
            ),
        );
    }
}

/// The message a panic was started with, where it has one.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Reports the error of a handler that raises where there is no caller left to stop: the
/// run already ended, or was dropped.
pub(crate) fn report_unraisable(result: Result<(), CallbackError>) {
    if let Err(error) = result {
        let rendered = render::display(&error);
        if subscribed() {
            tracing::warn!(target: "runtrace", error = %rendered, "callback handler failed after the run had ended");
        } else {
            to_stderr_once(
                &format!("unraisable: {}", handler_of(&error)),
                &format!("callback handler failed after the run had ended: {rendered}"),
            );
        }
    }
}

/// The handler a [`CallbackError`] comes from, for the key of its warning.
pub(crate) fn handler_of(error: &CallbackError) -> &str {
    match error {
        CallbackError::Raised { handler, .. } | CallbackError::RunIdInUse { handler, .. } => handler,
        CallbackError::NoParentRun { .. } => "",
    }
}

/// Whether a `tracing` subscriber takes runtrace's warnings. Asked at each report, since a
/// program may install its subscriber after its first runs.
fn subscribed() -> bool {
    tracing::enabled!(target: "runtrace", tracing::Level::WARN)
}

#[cold]
fn to_stderr_once(key: &str, message: &str) {
    static TOLD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if !TOLD.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned()) {
        return;
    }
    // `eprintln!`, not a write to `io::stderr()`, so that the test harness captures the line
    // as it captures a test's own; it panics when standard error fails, and a warning must
    // not become a panic of the run it is about.
    let _ = std::panic::catch_unwind(|| {
        eprintln!(
            "runtrace: warning: {message} (told once; a `tracing` subscriber of target `runtrace` hears every one)"
        );
    });
}
