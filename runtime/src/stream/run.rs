//! [`StreamRun`]: the run of a traced stream that a handler hears, and the items kept for
//! its output.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use serde_json::Value;

use crate::dispatch::report::{panic_message, report_unraisable};
use crate::error::CallbackError;
use crate::event::payload::Recorded;
use crate::event::{ErrorCause, ModelOutput, RunError};
use crate::macro_support::{REDACTED, on_run_span};
use crate::run::RunGuard;

/// How a traced stream's run records its output.
#[derive(Clone, Copy)]
pub enum StreamOutput {
    /// The items: their concatenation when every one is a string, else their list.
    Items,
    /// What `reduce = path` makes of the items' list (the `Ok` values of `Result` items).
    Reduce(fn(Vec<Value>) -> Value),
    /// `skip_output`: `null`, no item kept.
    Skip,
    /// `redact_output`: `"[REDACTED]"`, no item kept.
    Redact,
}

/// The run of a traced stream while it is heard: its guard until it ends, and the items kept
/// for its output.
pub struct StreamRun {
    /// `None` once the run ended.
    guard: Option<RunGuard>,
    output: StreamOutput,
    items: Vec<Value>,
    /// The stream answered `None`, or ended on a handler's stop: it is not polled again.
    finished: bool,
    /// A handler's stop, raised on an item's token or usage, for the stream to hand on.
    stop: Option<CallbackError>,
}

impl StreamRun {
    pub(super) fn new(guard: RunGuard, output: StreamOutput) -> StreamRun {
        StreamRun { guard: Some(guard), output, items: Vec::new(), finished: false, stop: None }
    }

    /// Whether the run ended (the stream ended, yielded an `Err` or panicked).
    pub(super) fn is_ended(&self) -> bool {
        self.guard.is_none()
    }

    /// Whether the stream answered `None`.
    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    pub(super) fn enter_span(&self) {
        if let Some(guard) = &self.guard {
            on_run_span(guard, |(id, dispatch)| dispatch.enter(id));
        }
    }

    pub(super) fn leave_span(&self) {
        if let Some(guard) = &self.guard {
            on_run_span(guard, |(id, dispatch)| dispatch.exit(id));
        }
    }

    /// Records an item (the `Ok` value of a `Result` item): its token, its usage and response
    /// when it is a [`ModelOutput`] (a final chunk's usage replaces the running total, so it
    /// counts once), and its value for the output.
    pub fn item(&mut self, value: &dyn Recorded, token: Option<&str>, model: Option<&dyn ModelOutput>) {
        let Some(guard) = &self.guard else { return };
        if let Some(state) = guard.model() {
            // The first item's time is the run's time to first token, tokens sent or not.
            state.token();
        }
        if let Some(token) = token {
            keep_first(&mut self.stop, guard.on_llm_new_token(token));
        }
        if let Some(model) = model {
            if let Some(usage) = model.usage() {
                keep_first(&mut self.stop, guard.report_usage(usage));
            }
            if let Some(response) = model.response() {
                guard.report_response(response);
            }
        }
        if matches!(self.output, StreamOutput::Items | StreamOutput::Reduce(_)) {
            self.items.push(value.to_json());
        }
    }

    /// Fails the run with the error of an `Err` item, rendered by `render`; the stream goes
    /// on, unrecorded.
    pub fn fail<E: ?Sized>(&mut self, error: &E, render: impl FnOnce(&E) -> String) {
        let Some(guard) = self.guard.take() else { return };
        let type_name = std::any::type_name::<E>();
        report_unraisable(
            guard.fail_with(|| RunError::new(render(error), ErrorCause::Returned).with_type_name(type_name)),
        );
        self.items = Vec::new();
    }

    /// The stop a handler raised on the last item, if any.
    pub(super) fn take_stop(&mut self) -> Option<CallbackError> {
        self.stop.take()
    }

    /// Ends the run as stopped by a handler (`message` its error), the stream ending with
    /// the `Err` item that carries the stop; it is not polled again.
    pub(super) fn stopped(&mut self, message: String) {
        self.finished = true;
        if let Some(guard) = self.guard.take() {
            // Recorded as stopped: the run knows a handler asked to stop it.
            report_unraisable(guard.fail_with(|| RunError::new(message, ErrorCause::Returned)));
        }
    }

    /// Ends the run with the items' output, the stream having ended.
    pub(super) fn finish(&mut self) {
        self.finished = true;
        let Some(guard) = self.guard.take() else { return };
        let items = std::mem::take(&mut self.items);
        let output = match self.output {
            StreamOutput::Items => items_output(items),
            StreamOutput::Skip => Value::Null,
            StreamOutput::Redact => REDACTED.to_json(),
            // The reduction is the user's code: its panic fails the run instead of escaping
            // from a poll that a handler's presence alone made run it.
            StreamOutput::Reduce(reduce) => match std::panic::catch_unwind(AssertUnwindSafe(|| reduce(items))) {
                Ok(output) => output,
                Err(panic) => {
                    let message = format!("the stream's reduce function panicked: {}", panic_message(&*panic));
                    report_unraisable(guard.fail(RunError::new(message, ErrorCause::Panicked)));
                    return;
                }
            },
        };
        report_unraisable(guard.end_with(&|| output.clone()));
    }

    /// Ends the run because the stream panicked in a poll; the caller resumes the panic.
    pub(super) fn panicked(&mut self, payload: &(dyn Any + Send)) {
        if let Some(guard) = self.guard.take() {
            guard.panicked(payload);
        }
    }
}

/// The default output of a stream's items: their concatenation when every one is a string
/// (a model's text chunks), else their list.
fn items_output(items: Vec<Value>) -> Value {
    if !items.is_empty() && items.iter().all(Value::is_string) {
        Value::String(items.iter().filter_map(Value::as_str).collect())
    } else {
        Value::Array(items)
    }
}

/// Keeps the first stop a handler raised.
fn keep_first(stop: &mut Option<CallbackError>, result: Result<(), CallbackError>) {
    if let (None, Err(error)) = (&stop, result) {
        *stop = Some(error);
    }
}
