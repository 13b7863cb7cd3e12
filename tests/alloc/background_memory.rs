//! What a background handler keeps once it has handled everything: its handled events are
//! freed by the threads that emit the next ones, so a program that goes quiet after a burst
//! must still see them freed, without a flush. The counting global allocator counts the bytes
//! live in the whole process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::ALLOCATOR;
use runtrace::handlers::{BoxFuture, HandlerResult};
use runtrace::{AsyncCallbackHandler, CallbackError, CallbackManager, Event, RunKind};

/// The bytes live in the process, allocated by any thread.
fn live_bytes() -> usize {
    usize::try_from(ALLOCATOR.everywhere().live).unwrap_or(0)
}

/// A handler slower than the code that emits, so events pile up, as in a burst.
struct Slow(Arc<AtomicUsize>);

impl AsyncCallbackHandler for Slow {
    fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_micros(200)).await;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// Waits until `done` is true, failing the test after `limit`.
fn wait_for(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn handled_events_are_freed_after_a_burst_without_a_flush() -> Result<(), CallbackError> {
    const RUNS: usize = 100;
    const PAYLOAD: usize = 256 * 1024;
    let handled = Arc::new(AtomicUsize::new(0));
    let callbacks = CallbackManager::new().with_handler(Slow(handled.clone()));
    let prompt = "x".repeat(PAYLOAD);
    let before = live_bytes();

    for _ in 0..RUNS {
        callbacks.start_run(RunKind::Llm, "big_model", &prompt)?.end(&prompt)?;
    }
    wait_for(Duration::from_secs(30), "the handler handles every event", || handled.load(Ordering::SeqCst) == 2 * RUNS);
    // Nothing is emitted any more and nobody flushes, as in a server between requests.
    wait_for(Duration::from_secs(5), "the handled events' payloads are freed", || {
        live_bytes().saturating_sub(before) < PAYLOAD
    });
    Ok(())
}
