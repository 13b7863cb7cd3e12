//! A traced stream that a handler hears keeps what its output is made of until it ends: for
//! a model's text chunks, their text, not a JSON value per chunk. The count is per thread,
//! and the stream is polled on the test's own thread.

use futures::StreamExt as _;
use futures::executor::block_on;
use futures::stream::{self, Stream};
use runtrace::event::EventType;
use runtrace::{CallbackManager, traced_run};

use crate::ALLOCATOR;
use crate::common::EventCounter;

const CHUNKS: usize = 10_000;

#[traced_run(kind = "llm")]
fn chunks(count: usize) -> impl Stream<Item = String> {
    stream::iter((0..count).map(|_| "ab".to_owned()))
}

/// Regression: every chunk was kept as a `serde_json::Value` in a list until the end, 32
/// bytes and an allocation of its own each, to be joined into one string only then.
#[test]
fn a_heard_stream_of_text_chunks_keeps_their_text_not_a_value_per_chunk() {
    let ends = EventCounter::new(EventType::End);
    let callbacks = CallbackManager::new().with_handler(ends.clone());
    let mut stream = Box::pin(chunks(CHUNKS, &callbacks));
    assert_eq!(block_on(stream.next()).as_deref(), Some("ab"), "the run started and kept its first chunk");
    let before = ALLOCATOR.here().live;
    for _ in 1..CHUNKS {
        assert!(block_on(stream.next()).is_some());
    }
    let kept = ALLOCATOR.here().live - before;
    // Two bytes of text and where each chunk ends, each buffer at most twice its length.
    let most = i64::try_from(CHUNKS * 2 * (2 + size_of::<usize>())).unwrap_or(i64::MAX);
    assert!(kept <= most, "{kept} bytes kept for {CHUNKS} chunks of 2 bytes, more than {most}");
    assert_eq!(block_on(stream.next()), None);
    assert_eq!(ends.count(), 1, "the run ended with the stream");
}
