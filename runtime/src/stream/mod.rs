//! Traced streams: a stream returned by a `#[traced_run]` function keeps its run open until
//! it ends, yields an `Err`, or is dropped, recording its items on the way.
//!
//! [`TracedStream`] is what the expansion returns in place of the body's stream. When no
//! handler hears the run it only forwards, one check per item; the run's state (its guard,
//! the items kept for the output) lives behind a box made for heard runs alone.

mod item;
mod run;

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

pub use item::{TokenText, token_text_of};
pub use run::{StreamOutput, StreamRun};

use crate::dispatch::report::warn_once;
use crate::error::CallbackError;
use crate::event::render;
use crate::run::RunGuard;

pin_project_lite::pin_project! {
    /// The stream of a traced function, which ends its run when it ends (the end event, with
    /// the items' output), when it yields an `Err` (the error event) or when it is dropped
    /// unfinished (a cancelled error event, like a dropped future).
    ///
    /// Once the stream it wraps answered `None` it answers `None` without polling that stream
    /// again, so a stream polled after its end cannot end the run twice or panic inside it.
    /// After an `Err` item has ended the run, the items go on to the caller, unrecorded.
    pub struct TracedStream<S, H, P> {
        #[pin]
        stream: S,
        run: Option<Box<StreamRun>>,
        on_item: H,
        stop: P,
    }
}

/// `stream`, made by a traced function whose run `guard` holds; `on_item` records each item
/// on the run (the expansion writes it for the item type), and `stop` makes the item that
/// carries a handler's stop to the caller (`Err(E::from(error))` for items that are a
/// `Result` whose error converts from [`CallbackError`]), or gives the error back when the
/// items cannot carry it.
#[inline]
pub fn traced_stream<S, H, P>(
    guard: RunGuard,
    stream: S,
    output: StreamOutput,
    on_item: H,
    stop: P,
) -> TracedStream<S, H, P>
where
    S: Stream,
    H: FnMut(&mut StreamRun, &S::Item),
    P: Fn(CallbackError) -> Result<S::Item, CallbackError>,
{
    // An unheard guard ends with no event: dropping it here is one check.
    let run = if guard.is_recording() { Some(Box::new(StreamRun::new(guard, output))) } else { None };
    TracedStream { stream, run, on_item, stop }
}

impl<S, H, P> Stream for TracedStream<S, H, P>
where
    S: Stream,
    H: FnMut(&mut StreamRun, &S::Item),
    P: Fn(CallbackError) -> Result<S::Item, CallbackError>,
{
    type Item = S::Item;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        match this.run {
            None => this.stream.poll_next(cx),
            Some(run) => heard_poll(this.stream, run, this.on_item, this.stop, cx),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.run {
            Some(run) if run.is_finished() => (0, Some(0)),
            _ => self.stream.size_hint(),
        }
    }
}

/// A poll of a heard stream: inside the run's span when a bridge made one, a panic of the
/// stream recorded on the run before it goes on.
///
/// Inlined, so that the optimizer can hoist the unheard check out of a caller's loop over
/// the stream: kept out of line, the unheard poll lost that and cost several times more per
/// item (the benches' README, "Traced streams").
#[inline]
fn heard_poll<S, H, P>(
    stream: Pin<&mut S>,
    run: &mut StreamRun,
    on_item: &mut H,
    stop: &P,
    cx: &mut Context<'_>,
) -> Poll<Option<S::Item>>
where
    S: Stream,
    H: FnMut(&mut StreamRun, &S::Item),
    P: Fn(CallbackError) -> Result<S::Item, CallbackError>,
{
    if run.is_finished() {
        return Poll::Ready(None);
    }
    if run.is_ended() {
        return stream.poll_next(cx);
    }
    run.enter_span();
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| stream.poll_next(cx)));
    run.leave_span();
    match polled {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(Some(item))) => {
            on_item(run, &item);
            if let Some(error) = run.take_stop() {
                let message = render::display(&error);
                match stop(error) {
                    // The stop replaces the item whose token or usage raised, as a `?` on
                    // `on_llm_new_token` returns before the caller sees the token.
                    Ok(stopped) => {
                        run.stopped(message);
                        return Poll::Ready(Some(stopped));
                    }
                    Err(error) => unstoppable(&error),
                }
            }
            Poll::Ready(Some(item))
        }
        Ok(Poll::Ready(None)) => {
            run.finish();
            Poll::Ready(None)
        }
        Err(panic) => {
            run.panicked(&*panic);
            std::panic::resume_unwind(panic)
        }
    }
}

/// A handler's stop that the stream's items cannot carry: reported, and the stream goes on.
fn unstoppable(error: &CallbackError) {
    warn_once(
        "stream stop",
        &format_args!(
            "a handler asked to stop a traced stream whose items cannot carry the error (they are not a \
             Result whose error implements From<CallbackError>); it goes on: {error}"
        ),
    );
}
