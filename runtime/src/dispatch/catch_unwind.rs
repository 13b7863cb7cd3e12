//! [`CatchUnwind`]: a future whose panic becomes a value, for the drain tasks of background
//! handlers and the bodies of traced `async fn`s.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

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
