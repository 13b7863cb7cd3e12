//! Fault reports: a handler's failure is told once, and the run goes on.

use std::any::Any;

use crate::error::CallbackError;
use crate::event::Event;
use crate::event::render;

/// Reports a handler's failure once; the run goes on.
pub(crate) fn report(handler: &str, event: &Event<'_>, error: &dyn std::fmt::Display) {
    // The error's `Display` is the handler's code: a panic in it must not reach the run.
    let error = render::display(error);
    tracing::warn!(
        target: "runtrace",
        handler,
        event = %event.event_type(),
        run = %event.run.name,
        run_id = %event.run.run_id,
        %error,
        "callback handler failed; the run goes on"
    );
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
        let error = render::display(&error);
        tracing::warn!(target: "runtrace", %error, "callback handler failed after the run had ended");
    }
}
