//! Async handlers run in the background: off the traced code's path, in order, with bounded
//! memory, and nothing lost once flushed, from sync or async code, in or out of a runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use crate::assert_each_worker_in_order;
use runtrace::background::{Background, Overflow};
use runtrace::handlers::{BoxFuture, HandlerResult, IntoHandler};
use runtrace::{AsyncCallbackHandler, CallbackError, CallbackManager, Event, EventData, RunKind};

/// What a [`Probe`] saw, shared with the test.
#[derive(Default)]
pub(super) struct Tally {
    /// One line per event handled, in the order handled.
    pub(super) seen: Mutex<Vec<String>>,
    /// Events the test has emitted so far (counted by the test once `emit` returned).
    pub(super) emitted: AtomicUsize,
    /// Events the probe has finished handling.
    pub(super) handled: AtomicUsize,
    /// The most events the probe ever saw emitted but not yet handled.
    max_in_flight: AtomicUsize,
}

impl Tally {
    pub(super) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn observe_in_flight(&self) {
        let in_flight = self.emitted.load(Ordering::SeqCst).saturating_sub(self.handled.load(Ordering::SeqCst));
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    }
}

/// An async handler that takes `delay` over each event, like an exporter on a slow network.
pub(super) struct Probe {
    tally: Arc<Tally>,
    delay: Duration,
}

impl Probe {
    pub(super) fn new(delay: Duration) -> (Self, Arc<Tally>) {
        let tally = Arc::new(Tally::default());
        (Probe { tally: tally.clone(), delay }, tally)
    }
}

impl AsyncCallbackHandler for Probe {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            self.tally.observe_in_flight();
            if self.delay.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(self.delay).await;
            }
            self.tally.observe_in_flight();
            self.tally.seen.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            self.tally.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn name(&self) -> &str {
        "probe"
    }
}

pub(super) fn describe(event: &Event<'_>) -> String {
    match &event.data {
        EventData::Start(_) => format!("{} start", event.run.name),
        EventData::End(_) => format!("{} end", event.run.name),
        EventData::NewToken(token) => format!("{} token {token}", event.run.name),
        other => format!("{} {other:?}", event.run.name),
    }
}

/// A streaming model call of `tokens` tokens, counting each event in `tally` once emitted.
/// Returns the events in emission order.
pub(super) fn stream(
    callbacks: &CallbackManager,
    name: &str,
    tokens: usize,
    tally: &Tally,
) -> Result<Vec<String>, CallbackError> {
    let count = || tally.emitted.fetch_add(1, Ordering::SeqCst);
    let run = callbacks.start_run(RunKind::Llm, name.to_owned(), &"Say hello")?;
    count();
    let mut expected = vec![format!("{name} start")];
    for token in 0..tokens {
        run.on_llm_new_token(&token.to_string())?;
        count();
        expected.push(format!("{name} token {token}"));
    }
    run.end(&"Hello")?;
    count();
    expected.push(format!("{name} end"));
    Ok(expected)
}

/// Runs `body` on its own thread and fails if it does not finish within `limit`: a deadlock
/// shows up as a failed test rather than a hung test run. A panic in `body` goes on as is.
pub(super) fn without_deadlock<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let value = body();
        let _ = done.send(());
        value
    });
    if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
        panic!("deadlock: still running after {limit:?}");
    }
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

pub(super) const DEADLOCK_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn slow_async_handler_does_not_delay_the_traced_code() -> Result<(), CallbackError> {
    let delay = Duration::from_millis(50);
    let (probe, tally) = Probe::new(delay);
    let callbacks = CallbackManager::new().with_handler(probe);

    let started = Instant::now();
    let expected = stream(&callbacks, "fake_llm", 18, &tally)?;
    let emitting = started.elapsed();

    let sleeping = delay * u32::try_from(expected.len()).expect("few events");
    assert!(emitting < sleeping / 2, "emitting took {emitting:?}, the handler sleeps {sleeping:?} in all");

    tokio::time::timeout(DEADLOCK_LIMIT, runtrace::flush()).await.expect("flush finishes");
    assert_eq!(tally.seen(), expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn after_flush_every_event_arrived_in_emission_order() -> Result<(), CallbackError> {
    let (probe, tally) = Probe::new(Duration::ZERO);
    let callbacks = CallbackManager::new().with_handler(probe);

    let mut expected = Vec::new();
    for call in 0..10 {
        expected.extend(stream(&callbacks, &format!("call-{call}"), 100, &tally)?);
    }
    tokio::time::timeout(DEADLOCK_LIMIT, runtrace::flush()).await.expect("flush finishes");

    assert_eq!(tally.seen(), expected, "nothing lost, nothing reordered");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn manager_flush_waits_for_its_own_background_handlers() -> Result<(), CallbackError> {
    let (probe, tally) = Probe::new(Duration::from_millis(5));
    let callbacks = CallbackManager::new().with_handler(probe);

    let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
    let expected = stream(run.children(), "fake_llm", 20, &tally)?;
    tokio::time::timeout(DEADLOCK_LIMIT, run.flush()).await.expect("flush finishes");
    assert_eq!(tally.seen()[1..], expected, "the child's events, after the chain's start");
    run.end(&())?;

    tokio::time::timeout(DEADLOCK_LIMIT, callbacks.flush()).await.expect("flush finishes");
    assert_eq!(tally.seen().len(), expected.len() + 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_overflow_keeps_memory_bounded_and_loses_nothing() -> Result<(), CallbackError> {
    let capacity = 8;
    let (probe, tally) = Probe::new(Duration::from_millis(2));
    let callbacks = CallbackManager::new()
        .with_handler(Background::new(probe).with_capacity(capacity).with_overflow(Overflow::Block));

    let expected = stream(&callbacks, "fake_llm", 150, &tally)?;
    tokio::time::timeout(DEADLOCK_LIMIT, callbacks.flush()).await.expect("flush finishes");

    let max_in_flight = tally.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max_in_flight <= capacity + 1,
        "at most {capacity} queued and 1 being handled, saw {max_in_flight} events in flight"
    );
    assert_eq!(tally.seen(), expected, "nothing lost");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_newest_overflow_never_waits_and_counts_every_dropped_event() -> Result<(), CallbackError> {
    let delay = Duration::from_millis(50);
    let (probe, tally) = Probe::new(delay);
    let handler = Background::new(probe).with_capacity(8).with_overflow(Overflow::DropNewest).into_handler();
    let callbacks = CallbackManager::new().with_handler(handler.clone());

    let started = Instant::now();
    let expected = stream(&callbacks, "fake_llm", 200, &tally)?;
    let emitting = started.elapsed();

    // Waiting for room would take about (202 - 9) × 50ms; not waiting takes next to nothing.
    assert!(emitting < delay * 5, "emitting took {emitting:?}");
    tokio::time::timeout(DEADLOCK_LIMIT, callbacks.flush()).await.expect("flush finishes");

    let delivered = tally.seen();
    let dropped = usize::try_from(handler.dropped_events()).expect("few events");
    assert!(dropped > 0, "the queue overflowed");
    assert_eq!(delivered.len() + dropped, expected.len(), "every event was either delivered or counted as dropped");
    let mut rest = expected.iter();
    assert!(
        delivered.iter().all(|event| rest.any(|emitted| emitted == event)),
        "the delivered events keep their emission order: {delivered:?}"
    );
    Ok(())
}

#[test]
fn sync_code_outside_any_runtime_delivers_everything_after_flush_blocking() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(1));
        let callbacks = CallbackManager::new().with_handler(probe);

        let expected = stream(&callbacks, "fake_llm", 50, &tally).expect("no handler raises");
        runtrace::flush_blocking();

        assert_eq!(tally.seen(), expected);
    });
}

#[test]
fn sync_code_outside_any_runtime_with_a_full_blocking_queue_does_not_deadlock() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(1));
        let callbacks = CallbackManager::new().with_handler(Background::new(probe).with_capacity(1));

        let expected = stream(&callbacks, "fake_llm", 50, &tally).expect("no handler raises");
        callbacks.flush_blocking();

        assert_eq!(tally.seen(), expected);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_code_inside_a_multi_thread_runtime_delivers_everything_after_flush() {
    let (probe, tally) = Probe::new(Duration::from_millis(1));
    let callbacks = CallbackManager::new().with_handler(Background::new(probe).with_capacity(4));

    // Sync traced code called straight from async code, on a runtime worker thread.
    let expected = stream(&callbacks, "fake_llm", 50, &tally).expect("no handler raises");
    tokio::time::timeout(DEADLOCK_LIMIT, runtrace::flush()).await.expect("flush finishes");

    assert_eq!(tally.seen(), expected);
}

#[tokio::test]
async fn current_thread_runtime_can_flush_blocking_from_spawn_blocking() {
    let (probe, tally) = Probe::new(Duration::from_millis(1));
    let callbacks = CallbackManager::new().with_handler(Background::new(probe).with_capacity(4));

    let expected = stream(&callbacks, "fake_llm", 50, &tally).expect("no handler raises");
    tokio::time::timeout(DEADLOCK_LIMIT, tokio::task::spawn_blocking(runtrace::flush_blocking))
        .await
        .expect("flush finishes")
        .expect("flush_blocking does not panic");

    assert_eq!(tally.seen(), expected);
}

#[test]
fn current_thread_runtime_can_flush_blocking_directly() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let (probe, tally) = Probe::new(Duration::from_millis(1));
            let callbacks = CallbackManager::new().with_handler(Background::new(probe).with_capacity(4));

            let expected = stream(&callbacks, "fake_llm", 50, &tally).expect("no handler raises");
            tokio::task::yield_now().await;
            // Blocks the runtime's only thread: the handler must not need it.
            runtrace::flush_blocking();

            assert_eq!(tally.seen(), expected);
        });
    });
}

#[test]
fn events_emitted_in_a_runtime_that_shut_down_are_still_delivered_by_flush() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(5));
        let callbacks = CallbackManager::new().with_handler(probe);

        // The end of a `#[tokio::main]`: the runtime is gone before anyone flushes.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let expected = runtime.block_on(async { stream(&callbacks, "fake_llm", 20, &tally) }).expect("no raise");
        drop(runtime);
        runtrace::flush_blocking();

        assert_eq!(tally.seen(), expected);
    });
}

#[test]
fn events_of_a_dropped_manager_are_still_delivered_by_the_global_flush() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(5));

        // A request handler: its callbacks live as long as the request, the process flushes
        // once at shutdown.
        let expected = {
            let callbacks = CallbackManager::new().with_handler(probe);
            stream(&callbacks, "fake_llm", 20, &tally).expect("no handler raises")
        };
        runtrace::flush_blocking();

        assert_eq!(tally.seen(), expected, "flush waited for the events of the dropped handler");
    });
}

#[test]
fn runs_on_many_threads_each_reach_the_background_handler_in_their_own_order() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::ZERO);
        let callbacks = CallbackManager::new().with_handler(Background::new(probe).with_capacity(16));

        let expected: Vec<Vec<String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|worker| {
                    let (callbacks, tally) = (&callbacks, &tally);
                    scope.spawn(move || stream(callbacks, &format!("worker-{worker}"), 200, tally))
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("no panic").expect("no raise")).collect()
        });
        callbacks.flush_blocking();

        assert_each_worker_in_order(&tally.seen(), &expected);
    });
}

/// An async handler that fails on every token and panics on every text, recording the rest.
struct Flaky(Arc<Tally>);

impl AsyncCallbackHandler for Flaky {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            match &event.data {
                EventData::NewToken(_) => return Err("the exporter rejected a token".into()),
                EventData::Text(_) => panic!("the exporter crashed"),
                _ => {}
            }
            self.0.seen.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            Ok(())
        })
    }
}

/// `calls` runs, each with a token and a note between its start and end, as a handler that
/// fails on tokens and notes records them: starts and ends only.
fn runs_with_a_token_and_a_note(callbacks: &CallbackManager, calls: usize) -> Vec<String> {
    let mut expected = Vec::new();
    for call in 0..calls {
        let name = format!("call-{call}");
        let run = callbacks.start_run(RunKind::Llm, name.clone(), &call).expect("async handlers never raise");
        run.on_llm_new_token("Hel").expect("async handlers never raise");
        run.on_text("a note").expect("async handlers never raise");
        run.end(&"Hello").expect("async handlers never raise");
        expected.extend([format!("{name} start"), format!("{name} end")]);
    }
    expected
}

#[test]
fn async_handler_that_fails_or_panics_still_gets_the_events_after() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let tally = Arc::new(Tally::default());
        let callbacks = CallbackManager::new().with_handler(Flaky(tally.clone()));

        let expected = runs_with_a_token_and_a_note(&callbacks, 3);
        callbacks.flush_blocking();

        assert_eq!(tally.seen(), expected);
    });
}

/// An async handler whose `on_event` panics before it makes its future, on every token and
/// note: an `unwrap` ahead of `Box::pin(async { .. })`.
struct PanicsBeforeItsFuture(Arc<Tally>);

impl AsyncCallbackHandler for PanicsBeforeItsFuture {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        if let EventData::NewToken(text) | EventData::Text(text) = &event.data {
            let _count: u32 = text.parse().expect("the exporter counts numeric texts only");
        }
        Box::pin(async move {
            self.0.seen.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            Ok(())
        })
    }
}

/// Regression: a panic in `on_event` itself, before the future existed, escaped the drain
/// task and killed it. Its queue was never drained again: with `Overflow::Block` the traced
/// code blocked for good once the queue of 8 was full, and every flush hung.
#[test]
fn async_handler_that_panics_before_returning_its_future_keeps_getting_events() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let tally = Arc::new(Tally::default());
        let callbacks =
            CallbackManager::new().with_handler(Background::new(PanicsBeforeItsFuture(tally.clone())).with_capacity(8));

        let expected = runs_with_a_token_and_a_note(&callbacks, 50);
        callbacks.flush_blocking();
        runtrace::flush_blocking();

        assert_eq!(tally.seen(), expected, "every event but the panicking tokens and notes, in order");
        assert_eq!(callbacks.handlers()[0].dropped_events(), 0);
    });
}

/// Forwards one message per event into a tokio channel, waiting for room: a handler that
/// depends on a task of the caller's runtime.
struct ForwardToTask(tokio::sync::mpsc::Sender<()>);

impl AsyncCallbackHandler for ForwardToTask {
    fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move { Ok(self.0.send(()).await?) })
    }
}

/// Regression: under `Overflow::Block`, a full queue parked the only thread of a
/// current-thread runtime while the handler waited for a task of that same runtime, and
/// both hung for good. Now such a runtime drops and counts the event instead.
#[test]
fn a_full_queue_never_hangs_a_current_thread_runtime_its_handler_waits_on() {
    let (finished, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let counts = runtime.block_on(async {
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
            let reader = tokio::spawn(async move {
                let mut read = 0_u64;
                while receiver.recv().await.is_some() {
                    read += 1;
                }
                read
            });
            let callbacks =
                CallbackManager::new().with_handler(Background::new(ForwardToTask(sender)).with_capacity(2));
            for step in 0..50 {
                callbacks.start_run(RunKind::Tool, "step", &step).expect("no raise").end(&step).expect("no raise");
            }
            callbacks.flush().await;
            let dropped = callbacks.handlers()[0].dropped_events();
            drop(callbacks);
            runtrace::flush().await;
            (reader.await.expect("the reader ran"), dropped)
        });
        let _ = finished.send(counts);
    });
    let (read, dropped) = outcome.recv_timeout(Duration::from_secs(60)).expect("the runtime hung on a full queue");
    assert!(dropped > 0, "the queue of 2 filled while the runtime could not read");
    assert_eq!(read + dropped, 100, "every event was either delivered or counted as dropped");
}

/// Streams a model call of `events` events on a current-thread runtime to `handler` and
/// flushes; gives back the events emitted and those the handler saw, both in order, and how
/// many it dropped.
fn on_a_current_thread_runtime(
    handler: Background<Probe>,
    tally: &Tally,
    events: usize,
) -> (Vec<String>, Vec<String>, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (expected, dropped) = runtime.block_on(async {
        let handler = handler.into_handler();
        let callbacks = CallbackManager::new().with_handler(handler.clone());
        let expected = stream(&callbacks, "fake_llm", events - 2, tally).expect("async handlers never raise");
        callbacks.flush().await;
        (expected, handler.dropped_events())
    });
    (expected, tally.seen(), dropped)
}

/// Regression: a handler slower than 250 ms an event, on a current-thread runtime under
/// `Overflow::Block`, dropped most of a burst while the docs called 250 ms ample. Drops are
/// what the docs of `Overflow::Block` say, and each one is counted.
#[test]
fn slow_handler_on_a_current_thread_runtime_counts_every_event_it_drops() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(300));
        let (expected, seen, dropped) =
            on_a_current_thread_runtime(Background::new(probe).with_capacity(2), &tally, 10);

        assert!(dropped > 0, "the queue of 2 filled and no slot freed within 250 ms");
        assert_eq!(
            seen.len() + usize::try_from(dropped).expect("few"),
            expected.len(),
            "delivered or counted: {seen:?}"
        );
        let mut rest = expected.iter();
        assert!(seen.iter().all(|event| rest.any(|emitted| emitted == event)), "in emission order: {seen:?}");
    });
}

#[test]
fn a_longer_block_timeout_lets_a_current_thread_runtime_wait_for_a_slow_handler() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(300));
        let handler = Background::new(probe).with_capacity(2).with_block_timeout(Duration::from_secs(5));
        let (expected, seen, dropped) = on_a_current_thread_runtime(handler, &tally, 6);

        assert_eq!(dropped, 0);
        assert_eq!(seen, expected);
    });
}

/// Polls until `tally` has handled `count` events, without flushing: what a handler gets
/// while the traced code goes on. Fails the test by running past its deadlock limit.
fn wait_until_handled(tally: &Tally, count: usize) {
    while tally.handled.load(Ordering::SeqCst) < count {
        std::thread::sleep(Duration::from_micros(100));
    }
}

#[test]
fn each_streamed_token_reaches_the_handler_without_a_flush() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::ZERO);
        let callbacks = CallbackManager::new().with_handler(probe);

        let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello").expect("no handler raises");
        let mut expected = vec!["fake_llm start".to_owned()];
        for token in 0..200 {
            // The dispatch thread fell asleep after the last token: this one alone must wake it.
            run.on_llm_new_token(&token.to_string()).expect("no handler raises");
            expected.push(format!("fake_llm token {token}"));
            wait_until_handled(&tally, expected.len());
        }
        run.end(&"Hello").expect("no handler raises");
        expected.push("fake_llm end".to_owned());
        wait_until_handled(&tally, expected.len());

        assert_eq!(tally.seen(), expected);
    });
}

/// An async handler that holds its first event until the test opens `gate`, so the events
/// after it pile up in the queue.
struct Gated {
    gate: Arc<tokio::sync::Notify>,
    tally: Arc<Tally>,
}

impl AsyncCallbackHandler for Gated {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            if self.tally.handled.load(Ordering::SeqCst) == 0 {
                self.gate.notified().await;
            }
            self.tally.seen.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            self.tally.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[test]
fn a_burst_queued_behind_a_busy_handler_arrives_complete_and_in_order_without_a_flush() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (gate, tally) = (Arc::new(tokio::sync::Notify::new()), Arc::new(Tally::default()));
        let callbacks = CallbackManager::new().with_handler(Gated { gate: gate.clone(), tally: tally.clone() });

        let expected = stream(&callbacks, "fake_llm", 500, &tally).expect("no handler raises");
        assert_eq!(tally.handled.load(Ordering::SeqCst), 0, "the handler still holds the first event");
        gate.notify_one();
        wait_until_handled(&tally, expected.len());

        assert_eq!(tally.seen(), expected);
    });
}
