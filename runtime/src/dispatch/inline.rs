//! Inline dispatch: sends an event to every handler of a run, isolating their faults.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::slice::Iter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::background::Worker;
use super::registered::{HandlerRepr, RegisteredHandler};
use super::report::{panic_message, report};
use crate::error::CallbackError;
use crate::event::{Event, EventData};
use crate::handler::{CallbackHandler, HandlerResult, Ignore};

/// Whether any of `handlers` wants events silenced by `flag`: the check that keeps ids,
/// clocks and payloads off the path of events nobody hears.
pub(crate) fn listens(handlers: &[RegisteredHandler], flag: Ignore) -> bool {
    handlers.iter().any(|handler| !handler.ignores(flag))
}

/// Sends `event` to each handler in order. Sync handlers run here; background handlers get
/// one shared owned copy, made only if one of them wants the event, and without payloads
/// unless one of them reads them (see [`owned_copy`]).
///
/// A failing handler is reported and the others still get the event. The first failure of
/// a handler that raises is returned, after every handler had the event.
///
/// `stopped`, when given, is set when a handler raises: the run it belongs to was asked to
/// stop. It is set here, on the raising path, so that the common path pays nothing for it.
pub(crate) fn dispatch(
    handlers: &[RegisteredHandler],
    flag: Ignore,
    event: &Event<'_>,
    stopped: Option<&AtomicBool>,
) -> Result<(), CallbackError> {
    let mut owned: Option<Arc<Event<'static>>> = None;
    let mut raised = None;
    let mut rest = handlers.iter();
    while let Some(handler) = rest.next() {
        if handler.ignores(flag) {
            continue;
        }
        match &handler.0 {
            HandlerRepr::Inline(inline) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| deliver(&*inline.handler, event)));
                let error = match outcome {
                    Ok(Ok(())) => continue,
                    Ok(Err(error)) => error,
                    Err(panic) => format!("panicked: {}", panic_message(&*panic)).into(),
                };
                if inline.raise && raised.is_none() {
                    if let Some(stopped) = stopped {
                        stopped.store(true, Ordering::Relaxed);
                    }
                    raised = Some(CallbackError::Raised {
                        handler: inline.handler.name().to_owned(),
                        event: event.event_type(),
                        source: error,
                    });
                } else {
                    report(inline.handler.name(), event, &error);
                }
            }
            HandlerRepr::Background(worker) => {
                let owned = owned.get_or_insert_with(|| owned_copy(worker, rest.clone(), flag, event));
                worker.send(Arc::clone(owned));
            }
        }
    }
    raised.map_or(Ok(()), Err)
}

/// The owned copy of `event` that `first`, the first background handler to hear it, and
/// those of `later` that hear it too share. It carries the inputs and outputs only if one of
/// them reads them: serializing them is most of the copy's cost on the traced call's thread,
/// and a handler that ignores [`Ignore::PAYLOADS`] would throw them away unread.
///
/// Out of line, and given the handlers after `first` rather than all of them, so that the
/// events [`dispatch`] sends to sync handlers only carry none of its frame.
#[inline(never)]
fn owned_copy(
    first: &Worker,
    mut later: Iter<'_, RegisteredHandler>,
    flag: Ignore,
    event: &Event<'_>,
) -> Arc<Event<'static>> {
    let reads_payloads = |ignore: Ignore| !ignore.contains(Ignore::PAYLOADS);
    let mut later_reads_payloads = || {
        later.any(|handler| match &handler.0 {
            HandlerRepr::Background(worker) => !worker.ignore().contains(flag) && reads_payloads(worker.ignore()),
            HandlerRepr::Inline(_) => false,
        })
    };
    Arc::new(if reads_payloads(first.ignore()) || later_reads_payloads() {
        event.to_static()
    } else {
        event.to_static_without_payloads()
    })
}

/// Calls the method of `handler` that `event` arrives at.
pub(crate) fn deliver(handler: &dyn CallbackHandler, event: &Event<'_>) -> HandlerResult {
    match &event.data {
        EventData::Start(start) => handler.on_run_start(event, start),
        EventData::End(end) => handler.on_run_end(event, end),
        EventData::Error(error) => handler.on_run_error(event, error),
        EventData::NewToken(token) => handler.on_llm_new_token(event, token),
        EventData::Text(text) => handler.on_text(event, text),
        EventData::Retry(retry) => handler.on_retry(event, retry),
        EventData::AgentAction(action) => handler.on_agent_action(event, action),
        EventData::AgentFinish(finish) => handler.on_agent_finish(event, finish),
        EventData::Custom(custom) => handler.on_custom_event(event, custom),
        EventData::Usage(usage) => handler.on_usage(event, usage),
        EventData::Metadata(metadata) => handler.on_metadata(event, metadata),
    }
}
