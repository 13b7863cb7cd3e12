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
    items: Items,
    /// The stream answered `None`, or ended on a handler's stop: it is not polled again.
    finished: bool,
    /// A handler's stop, raised on an item's token or usage, for the stream to hand on.
    stop: Option<CallbackError>,
}

impl StreamRun {
    pub(super) fn new(guard: RunGuard, output: StreamOutput) -> StreamRun {
        StreamRun { guard: Some(guard), output, items: Items::default(), finished: false, stop: None }
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
        match self.output {
            StreamOutput::Items => self.items.push(value.to_json()),
            StreamOutput::Reduce(_) => self.items.push_listed(value.to_json()),
            StreamOutput::Skip | StreamOutput::Redact => {}
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
        self.items = Items::default();
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
            StreamOutput::Items => items.output(),
            StreamOutput::Skip => Value::Null,
            StreamOutput::Redact => REDACTED.to_json(),
            // The reduction is the user's code: its panic fails the run instead of escaping
            // from a poll that a handler's presence alone made run it.
            StreamOutput::Reduce(reduce) => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| reduce(items.into_list()))) {
                    Ok(output) => output,
                    Err(panic) => {
                        let message = format!("the stream's reduce function panicked: {}", panic_message(&*panic));
                        report_unraisable(guard.fail(RunError::new(message, ErrorCause::Panicked)));
                        return;
                    }
                }
            }
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

/// The items kept for a stream's output. A model's stream yields thousands of text chunks,
/// so while every item is a string only their concatenation is kept, and where each one
/// ends in it, in case a later item is not a string and the output becomes their list.
enum Items {
    Text { text: String, ends: Vec<usize> },
    List(Vec<Value>),
}

impl Default for Items {
    fn default() -> Self {
        Items::Text { text: String::new(), ends: Vec::new() }
    }
}

impl Items {
    fn push(&mut self, item: Value) {
        match (&mut *self, item) {
            (Items::Text { text, ends }, Value::String(item)) => {
                text.push_str(&item);
                ends.push(text.len());
            }
            (Items::List(list), item) => list.push(item),
            (Items::Text { .. }, item) => self.push_listed(item),
        }
    }

    /// Adds `item` to the items' list, made from the strings kept so far if need be.
    fn push_listed(&mut self, item: Value) {
        let mut list = std::mem::take(self).into_list();
        list.push(item);
        *self = Items::List(list);
    }

    /// The items, one value each.
    fn into_list(self) -> Vec<Value> {
        match self {
            Items::List(list) => list,
            Items::Text { text, ends } => {
                let starts = std::iter::once(0).chain(ends.iter().copied());
                starts.zip(&ends).map(|(start, &end)| Value::String(text[start..end].to_owned())).collect()
            }
        }
    }

    /// The default output: the items' concatenation when every one is a string (a model's
    /// text chunks), else their list.
    fn output(self) -> Value {
        match self {
            Items::Text { text, ends } if !ends.is_empty() => Value::String(text),
            items => Value::Array(items.into_list()),
        }
    }
}

/// Keeps the first stop a handler raised.
fn keep_first(stop: &mut Option<CallbackError>, result: Result<(), CallbackError>) {
    if let (None, Err(error)) = (&stop, result) {
        *stop = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kept(values: &[Value]) -> Items {
        let mut items = Items::default();
        values.iter().cloned().for_each(|value| items.push(value));
        items
    }

    #[test]
    fn string_items_are_kept_as_one_string_and_give_their_concatenation() {
        let items = kept(&[json!("Hel"), json!("lo"), json!(""), json!(" world")]);
        assert!(matches!(&items, Items::Text { ends, .. } if ends.len() == 4));
        assert_eq!(items.output(), json!("Hello world"));
    }

    #[test]
    fn a_later_item_that_is_no_string_makes_the_output_the_list_of_every_item() {
        let items = kept(&[json!("a"), json!(""), json!("bc"), json!(3), json!("d")]);
        assert_eq!(items.output(), json!(["a", "", "bc", 3, "d"]));
        assert_eq!(kept(&[json!({"x": 1}), json!("y")]).output(), json!([{"x": 1}, "y"]));
    }

    #[test]
    fn no_items_give_an_empty_list_and_a_reduction_reads_each_item() {
        assert_eq!(kept(&[]).output(), json!([]));
        assert_eq!(kept(&[json!("a"), json!("b")]).into_list(), [json!("a"), json!("b")]);
    }
}
