//! Inline dispatch: sends an event to every handler of a run, isolating their faults.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::CallbackError;
use crate::event::Event;
use crate::handler::{Handler, HandlerRepr, Ignore, deliver};

/// Whether any of `handlers` wants events silenced by `flag`: the check that keeps ids,
/// clocks and payloads off the path of events nobody hears.
pub(crate) fn listens(handlers: &[Handler], flag: Ignore) -> bool {
    handlers.iter().any(|handler| !handler.ignores(flag))
}

/// Sends `event` to each handler in order. Sync handlers run here; background handlers get
/// one shared owned copy, made only if one of them wants the event.
///
/// A failing handler is reported and the others still get the event. The first failure of
/// a handler that raises is returned, after every handler had the event.
pub(crate) fn dispatch(handlers: &[Handler], flag: Ignore, event: &Event<'_>) -> Result<(), CallbackError> {
    let mut owned: Option<Arc<Event<'static>>> = None;
    let mut raised = None;
    for handler in handlers {
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
                let owned = owned.get_or_insert_with(|| Arc::new(event.to_static()));
                worker.send(Arc::clone(owned));
            }
        }
    }
    raised.map_or(Ok(()), Err)
}

/// Reports a handler's failure once; the run goes on.
pub(crate) fn report(handler: &str, event: &Event<'_>, error: &dyn std::fmt::Display) {
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
        tracing::warn!(target: "runtrace", %error, "callback handler failed after the run had ended");
    }
}

/// Polls a future, turning a panic in it into an `Err` with the panic's payload.
///
/// It holds the future itself, pinned with it, so a traced `async fn` stores its body's
/// future once, inside this, instead of beside a pinned reference to it.
pub struct CatchUnwind<F>(pub F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the one field: `CatchUnwind` has no `Drop`, is not
        // `Unpin` unless `F` is, is not packed, and never moves the future out.
        let future = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
