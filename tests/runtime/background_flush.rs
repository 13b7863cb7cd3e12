//! Flushing background handlers around one that stops making progress: with a deadline that
//! names it, with the traced code waiting on it at most its block timeout, from inside a
//! handler, and when `main` ends, through the flush guard.
//!
//! A stuck handler here is released when its test ends, however it ends, so the global
//! flushes of the other tests of this binary wait on it only that long.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::background::{DEADLOCK_LIMIT, Probe, Tally, describe, stream, without_deadlock};
use crate::common::{Warning, with_warnings};
use runtrace::background::{
    Background, FlushGuard, FlushTimeout, Overflow, Unfinished, flush_blocking_timeout, flush_timeout,
};
use runtrace::handlers::{BoxFuture, HandlerResult, IntoHandler, RegisteredHandler};
use runtrace::{AsyncCallbackHandler, CallbackManager, Event, RunGuard, RunKind};

/// An async handler that stops making progress: it takes its first event and holds it, and
/// everything after, until the test ends or calls `release`.
struct Stuck {
    name: &'static str,
    gate: Arc<Semaphore>,
    tally: Arc<Tally>,
}

/// Lets a [`Stuck`] handler go on when dropped.
struct Release(Arc<Semaphore>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Stuck {
    fn new(name: &'static str) -> (Self, Arc<Tally>, Release) {
        let (gate, tally) = (Arc::new(Semaphore::new(0)), Arc::new(Tally::default()));
        (Stuck { name, gate: gate.clone(), tally: tally.clone() }, tally, Release(gate))
    }
}

impl AsyncCallbackHandler for Stuck {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            // Counted as taken before it waits, so the test knows the event is in hand.
            self.tally.emitted.fetch_add(1, Ordering::SeqCst);
            let _closed = self.gate.acquire().await;
            self.tally.seen.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            self.tally.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// Starts a model call that streams `tokens` tokens: `tokens + 1` events. The run stays open
/// while the test holds it, so that no end or cancellation adds to the count.
fn stream_open(callbacks: &CallbackManager, tokens: usize) -> RunGuard {
    let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello").expect("async handlers never raise");
    for token in 0..tokens {
        run.on_llm_new_token(&token.to_string()).expect("async handlers never raise");
    }
    run
}

/// Waits until the stuck handler holds its first event, so that what it holds is exact.
fn wait_until_taken(tally: &Tally) {
    while tally.emitted.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A stuck handler, alone in a manager, holding a model call's start in hand and its
/// `tokens` tokens queued: `tokens + 1` events. Released when dropped.
struct StuckCall {
    handler: RegisteredHandler,
    tally: Arc<Tally>,
    _run: RunGuard,
    release: Release,
}

fn stuck_call(name: &'static str, tokens: usize) -> StuckCall {
    let (stuck, tally, release) = Stuck::new(name);
    let handler = stuck.into_handler();
    let run = stream_open(&CallbackManager::new().with_handler(handler.clone()), tokens);
    wait_until_taken(&tally);
    StuckCall { handler, tally, _run: run, release }
}

/// [`with_warnings`], made safe from a quirk of tracing-core: while one subscriber is the
/// only one in the process, a callsite first hit on another thread (another test dropping
/// events, with no subscriber) is cached from that thread's default alone, as unwanted, and
/// this thread's warnings from it are lost. With a second subscriber alive, it asks them all.
fn warnings_of<R>(f: impl FnOnce() -> R) -> (R, Vec<Warning>) {
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    with_warnings(f)
}

fn unfinished<'e>(error: &'e FlushTimeout, name: &str) -> Option<&'e Unfinished> {
    error.unfinished.iter().find(|handler| handler.name == name)
}

/// Regression: one handler that never finished made every process-wide flush hang for good,
/// and with it the flush of every other handler.
#[tokio::test(flavor = "multi_thread")]
async fn flush_timeout_names_a_handler_that_never_finishes_and_the_events_it_holds() {
    let (stuck, stuck_tally, _release) = Stuck::new("stuck-exporter");
    let (probe, tally) = Probe::new(Duration::from_millis(1));
    let callbacks = CallbackManager::new().with_handler(stuck).with_handler(probe);

    let expected = stream(&callbacks, "fake_llm", 3, &tally).expect("async handlers never raise");
    wait_until_taken(&stuck_tally);
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = flush_timeout(timeout).await.expect_err("the stuck handler holds its events");
    let waited = started.elapsed();

    assert!(waited >= timeout && waited < timeout + Duration::from_secs(5), "waited {waited:?}");
    let stuck = unfinished(&error, "stuck-exporter").expect("the stuck handler is named");
    assert_eq!(stuck.events, 5, "one in hand, four queued: {error}");
    assert!(unfinished(&error, "probe").is_none(), "the other handler was flushed: {error}");
    assert_eq!(tally.seen(), expected, "the other handler got everything by the deadline");
    assert_eq!(error.timeout, timeout);
    assert!(error.to_string().contains("`stuck-exporter` (5)"), "{error}");
}

#[test]
fn flush_blocking_timeout_returns_by_its_deadline_around_a_stuck_handler() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let StuckCall { handler, tally, release, _run } = stuck_call("stuck-blocking", 2);

        let error = handler.flush_blocking_timeout(Duration::from_millis(200)).expect_err("stuck");
        let [only] = &error.unfinished[..] else { panic!("one handler flushed: {error}") };
        assert_eq!((&*only.name, only.events), ("stuck-blocking", 3));
        let global = flush_blocking_timeout(Duration::from_millis(200)).expect_err("still stuck");
        assert_eq!(unfinished(&global, "stuck-blocking").map(|handler| handler.events), Some(3));

        drop(release);
        handler.flush_blocking_timeout(DEADLOCK_LIMIT).expect("released, it finishes");
        assert_eq!(tally.seen().len(), 3);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_that_keeps_up_finishes_its_own_flush_with_a_deadline() {
    let (probe, tally) = Probe::new(Duration::from_millis(1));
    let handler: RegisteredHandler = probe.into_handler();
    let callbacks = CallbackManager::new().with_handler(handler.clone());

    let expected = stream(&callbacks, "fake_llm", 20, &tally).expect("async handlers never raise");
    handler.flush_timeout(DEADLOCK_LIMIT).await.expect("a live handler finishes");
    assert_eq!(tally.seen(), expected);
}

/// The traced code runs `emit` on a plain thread, whose waits for room are the longest.
#[test]
fn a_stuck_handler_holds_up_the_traced_code_at_most_its_block_timeout() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (stuck, tally, _release) = Stuck::new("stuck-block");
        let block_timeout = Duration::from_millis(100);
        let handler = Background::new(stuck)
            .with_capacity(2)
            .with_overflow(Overflow::Block)
            .with_block_timeout(block_timeout)
            .into_handler();
        let callbacks = CallbackManager::new().with_handler(handler.clone());
        let run = stream_open(&callbacks, 0);
        wait_until_taken(&tally);

        let started = Instant::now();
        let ((), warnings) = warnings_of(|| {
            for token in 0..20 {
                run.on_llm_new_token(&token.to_string()).expect("async handlers never raise");
            }
        });
        let emitting = started.elapsed();

        assert!(emitting < block_timeout * 10, "one wait, not one per event: {emitting:?}");
        assert_eq!(handler.dropped_events(), 18, "the queue of 2 took two of the 20");
        let stalls: Vec<_> = warnings
            .iter()
            .filter(|warning| warning.handler.as_deref() == Some("stuck-block") && warning.message.contains("no room"))
            .collect();
        assert_eq!(stalls.len(), 1, "one warning that the traced code stopped waiting: {warnings:?}");
        let error = handler.flush_blocking_timeout(Duration::from_millis(50)).expect_err("stuck");
        assert_eq!(error.events(), 3, "one in hand, two queued");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_handler_holds_up_a_multi_thread_runtime_at_most_its_block_timeout() {
    let (stuck, tally, _release) = Stuck::new("stuck-block-multi-thread");
    let block_timeout = Duration::from_millis(100);
    let handler = Background::new(stuck).with_capacity(1).with_block_timeout(block_timeout).into_handler();
    let callbacks = CallbackManager::new().with_handler(handler.clone());
    let run = stream_open(&callbacks, 0);
    wait_until_taken(&tally);

    let started = Instant::now();
    for token in 0..20 {
        run.on_llm_new_token(&token.to_string()).expect("async handlers never raise");
    }

    assert!(started.elapsed() < block_timeout * 10, "took {:?}", started.elapsed());
    assert_eq!(handler.dropped_events(), 19);
}

/// An async handler that flushes every background handler inside its own code, then notes
/// how many events `watched` had handled by then.
struct FlushesInside {
    watched: Arc<Tally>,
    blocking: bool,
    saw: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl AsyncCallbackHandler for FlushesInside {
    fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            if self.blocking {
                runtrace::flush_blocking();
            } else {
                runtrace::flush().await;
            }
            let mut saw = self.saw.lock().unwrap_or_else(PoisonError::into_inner);
            let index = saw.len();
            saw.push((index, self.watched.handled.load(Ordering::SeqCst)));
            Ok(())
        })
    }
}

/// Regression: `runtrace::flush` inside an async handler waited on that handler's own queue,
/// which only the waiting task empties: a deadlock.
#[test]
fn flush_inside_an_async_handler_skips_its_own_queue_and_flushes_the_others() {
    for blocking in [false, true] {
        without_deadlock(DEADLOCK_LIMIT, move || {
            let (probe, tally) = Probe::new(Duration::from_millis(2));
            let saw = Arc::new(Mutex::new(Vec::new()));
            let flusher = FlushesInside { watched: tally.clone(), blocking, saw: saw.clone() };
            // The probe hears each event before the flusher does.
            let callbacks = CallbackManager::new().with_handler(probe).with_handler(flusher);

            let expected = stream(&callbacks, "fake_llm", 8, &tally).expect("async handlers never raise");
            callbacks.flush_blocking();

            let saw = saw.lock().unwrap_or_else(PoisonError::into_inner).clone();
            assert_eq!(saw.len(), expected.len(), "blocking: {blocking}");
            for (index, handled) in saw {
                assert!(handled > index, "the probe had handled event {index} when the flush returned ({blocking})");
            }
        });
    }
}

#[test]
fn two_async_handlers_that_flush_inside_their_code_do_not_wait_on_each_other() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let watched = Arc::new(Tally::default());
        let (first, second) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let callbacks = CallbackManager::new()
            .with_handler(FlushesInside { watched: watched.clone(), blocking: false, saw: first.clone() })
            .with_handler(FlushesInside { watched: watched.clone(), blocking: true, saw: second.clone() });

        let expected = stream(&callbacks, "fake_llm", 18, &watched).expect("async handlers never raise");
        callbacks.flush_blocking();

        assert_eq!(first.lock().unwrap_or_else(PoisonError::into_inner).len(), expected.len());
        assert_eq!(second.lock().unwrap_or_else(PoisonError::into_inner).len(), expected.len());
    });
}

/// Regression: events still queued when `main` returned without a flush were lost without a
/// word (all 202 of a newcomer's program).
#[test]
fn events_queued_when_main_ends_are_delivered_by_the_flush_guard() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let (probe, tally) = Probe::new(Duration::from_millis(1));
        let expected = {
            let _flush = FlushGuard::new();
            let callbacks = CallbackManager::new().with_handler(probe);
            stream(&callbacks, "fake_llm", 200, &tally).expect("async handlers never raise")
        };
        assert_eq!(tally.seen(), expected, "all delivered once the guard was dropped");
    });
}

#[test]
fn flush_guard_warns_of_the_events_a_stuck_handler_still_holds() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let _stuck = stuck_call("stuck-at-exit", 3);

        let guard = FlushGuard::new().with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let ((), warnings) = warnings_of(|| drop(guard));

        assert!(started.elapsed() < Duration::from_secs(5), "the guard waits about its timeout");
        let lost: Vec<_> =
            warnings.iter().filter(|warning| warning.handler.as_deref() == Some("stuck-at-exit")).collect();
        let [warning] = &lost[..] else { panic!("one warning for the stuck handler: {warnings:?}") };
        assert!(warning.message.contains("4 events") && warning.message.contains("lost"), "{warning:?}");
    });
}

#[test]
fn flush_timeout_needs_no_timer_from_the_callers_runtime() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let _stuck = stuck_call("stuck-no-timer", 1);

        // No `enable_time`: the deadline cannot come from this runtime.
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let error = runtime.block_on(flush_timeout(Duration::from_millis(100))).expect_err("stuck");
        assert_eq!(unfinished(&error, "stuck-no-timer").map(|handler| handler.events), Some(2));
    });
}

/// Starts five tool runs of its own whenever it hears a chain start, with `callbacks`, which
/// hold this handler too: it hears its own runs.
struct HearsItself {
    callbacks: Arc<std::sync::OnceLock<CallbackManager>>,
}

impl AsyncCallbackHandler for HearsItself {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            if event.run.kind == RunKind::Chain && event.event_type() == runtrace::event::EventType::Start {
                if let Some(callbacks) = self.callbacks.get() {
                    for step in 0..5 {
                        callbacks.start_run(RunKind::Tool, "lookup", &step)?.end(&step)?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[test]
fn a_handler_that_hears_its_own_runs_never_waits_on_its_own_full_queue() {
    without_deadlock(DEADLOCK_LIMIT, || {
        let callbacks = Arc::new(std::sync::OnceLock::new());
        let handler = Background::new(HearsItself { callbacks: callbacks.clone() }).with_capacity(2).into_handler();
        let _ = callbacks.set(CallbackManager::new().with_handler(handler.clone()));
        let chain = callbacks.get().expect("set").start_run(RunKind::Chain, "agent", &()).expect("no raise");

        let started = Instant::now();
        handler.flush_blocking();

        // Waiting on its own queue would take the whole default block timeout, 10 s.
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert!(handler.dropped_events() > 0, "ten events into a queue of two, from its own code");
        drop(chain);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn every_flush_can_run_on_a_spawned_task() {
    let (probe, _tally) = Probe::new(Duration::ZERO);
    let handler = probe.into_handler();

    tokio::spawn(runtrace::flush()).await.expect("flush is Send");
    tokio::spawn(flush_timeout(DEADLOCK_LIMIT)).await.expect("Send").expect("no handler is stuck for long");
    tokio::spawn(async move { handler.flush_timeout(DEADLOCK_LIMIT).await }).await.expect("Send").expect("flushed");
}
