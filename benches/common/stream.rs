//! A stream of [`ITEMS`] numbers, plain and traced, and the drain that reads it: what the
//! `stream_100` rows of the overhead benchmark and the `stream_*` instruction counts time.

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll};

use futures::stream::{self, Stream};
use runtrace::prelude::traced_run;

/// Items per stream.
pub const ITEMS: u64 = 100;

/// The untraced stream.
pub fn plain(to: u64) -> impl Stream<Item = u64> {
    stream::iter(0..to)
}

/// The same stream, its run open until it ends.
#[traced_run]
pub fn traced(to: u64) -> impl Stream<Item = u64> {
    stream::iter(0..to)
}

/// Reads `stream` to its end, polling it with a no-op waker (no executor), and sums it.
pub fn drain(stream: impl Stream<Item = u64>) -> u64 {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut sum = 0;
    while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
        sum += black_box(item);
    }
    sum
}
