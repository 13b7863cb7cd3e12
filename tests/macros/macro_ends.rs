//! How traced runs end: every start gets exactly one end or error, whether the function
//! returns `Ok`, `Err` or a plain value, panics, is cancelled, or a handler that raises stops
//! it at its start, a token or its end.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{Faulty, HandlerFault, ToolError, Warning, errors, recording, the_error, with_warnings};
use futures::FutureExt as _;
use runtrace::RunId;
use runtrace::event::{ErrorCause, EventType};
use runtrace::prelude::*;

/// Asserts that every run started once and ended (end or error) exactly once, after its start.
pub(crate) fn assert_one_end_per_start(recorder: &RecordingHandler) {
    let mut seen: HashMap<RunId, (usize, usize)> = HashMap::new();
    for event in recorder.events() {
        let (starts, ends) = seen.entry(event.run.run_id).or_default();
        match event.event_type() {
            EventType::Start => *starts += 1,
            EventType::End | EventType::Error => {
                assert_eq!(*starts, 1, "run `{}` ended before it started", event.run.name);
                *ends += 1;
            }
            _ => assert_eq!((*starts, *ends), (1, 0), "event of run `{}` outside its lifetime", event.run.name),
        }
    }
    for (run, counts) in &seen {
        assert_eq!(*counts, (1, 1), "run {run}: (starts, ends)");
    }
}

/// Asserts that there is one error event, of `cause`, whose message contains `text`.
fn assert_the_error(recorder: &RecordingHandler, cause: ErrorCause, text: &str) {
    let error = the_error(recorder);
    assert_eq!(error.cause, cause, "{error:?}");
    assert!(error.message.contains(text), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// A handler that raises, and warnings

/// A handler that raises: it refuses the `at` events with `HandlerFault("budget exceeded")`.
fn refuse(at: EventType) -> Faulty {
    Faulty::fails_at("refuse", [at], "budget exceeded").raising()
}

/// A recorder, then [`refuse`] at `at`.
fn refused_at(at: EventType) -> (Arc<RecordingHandler>, CallbackManager) {
    let (recorder, callbacks) = recording();
    (recorder, callbacks.with_handler(refuse(at)))
}

/// Whether `error` is the refusal of [`refuse`] at `at`.
fn is_refusal(error: &CallbackError, at: EventType) -> bool {
    matches!(error, CallbackError::Raised { handler, event, source }
        if handler == "refuse" && *event == at && source.downcast_ref() == Some(&HandlerFault("budget exceeded")))
}

/// Asserts that `outcome` is the refusal at `at` of [`refuse`], passed on to the caller.
fn assert_refused<T: std::fmt::Debug>(outcome: Result<T, ToolError>, at: EventType) {
    let Err(ToolError::Callback(error)) = outcome else { panic!("expected the callback error, got {outcome:?}") };
    assert!(is_refusal(&error, at), "{error:?}");
}

/// Runs the future `f` to completion on this thread, collecting runtrace's warnings.
fn block_on_with_warnings<F: Future>(f: F) -> (F::Output, Vec<Warning>) {
    with_warnings(|| futures::executor::block_on(f))
}

// ---------------------------------------------------------------------------------------------
// Ok, Err and plain values

#[traced_run(kind = "tool")]
fn divide(a: i32, b: i32) -> Result<i32, ToolError> {
    if b == 0 {
        return Err(ToolError::BadInput("division by zero".into()));
    }
    Ok(a / b)
}

#[traced_run(kind = "tool")]
fn double(x: i32) -> i32 {
    x * 2
}

#[test]
fn ok_ends_the_run_once_with_an_end_event() {
    let (recorder, callbacks) = recording();

    assert_eq!(divide(6, 3, &callbacks).ok(), Some(2));
    assert_eq!(double(4, &callbacks), 8);

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End, EventType::Start, EventType::End]);
    assert_one_end_per_start(&recorder);
}

#[test]
fn err_ends_the_run_once_with_a_returned_error_event() {
    let (recorder, callbacks) = recording();

    assert!(matches!(divide(1, 0, &callbacks), Err(ToolError::BadInput(_))));

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    let [(name, error)] = &errors(&recorder)[..] else { panic!("expected one error event") };
    assert_eq!(name, "divide");
    assert_eq!(error.cause, ErrorCause::Returned);
    assert_eq!(error.message, "bad input: division by zero");
}

// ---------------------------------------------------------------------------------------------
// Panics

#[traced_run(kind = "tool")]
fn explode(fuse: u32) -> u32 {
    if fuse == 0 {
        panic!("kaboom at zero");
    }
    fuse
}

#[traced_run]
fn calls_explode(fuse: u32, run: &RunManager) -> u32 {
    explode(fuse, run) + 1
}

#[traced_run(kind = "tool")]
async fn explode_later(fuse: u32) -> Result<u32, ToolError> {
    tokio::task::yield_now().await;
    if fuse == 0 {
        panic!("async kaboom");
    }
    Ok(fuse)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn sync_panic_records_one_panicked_error_then_the_panic_continues() {
    let (recorder, callbacks) = recording();

    let payload =
        catch_unwind(AssertUnwindSafe(|| explode(0, &callbacks))).expect_err("the panic must reach the caller");

    assert_eq!(panic_text(&*payload), "kaboom at zero");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_the_error(&recorder, ErrorCause::Panicked, "kaboom at zero");
}

#[test]
fn panic_in_a_child_ends_the_child_and_every_ancestor_once_each() {
    let (recorder, callbacks) = recording();

    let payload = catch_unwind(AssertUnwindSafe(|| calls_explode(0, &callbacks))).expect_err("the panic must go on");

    assert_eq!(panic_text(&*payload), "kaboom at zero");
    assert_one_end_per_start(&recorder);
    let errors = errors(&recorder);
    assert_eq!(errors.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["explode", "calls_explode"]);
    assert!(errors.iter().all(|(_, error)| error.cause == ErrorCause::Panicked));
    assert!(errors.iter().all(|(_, error)| error.message.contains("kaboom at zero")), "{errors:?}");
}

#[tokio::test]
async fn async_panic_records_one_panicked_error_then_the_panic_continues() {
    let (recorder, callbacks) = recording();

    let payload =
        AssertUnwindSafe(explode_later(0, &callbacks)).catch_unwind().await.expect_err("the panic must go on");

    assert_eq!(panic_text(&*payload), "async kaboom");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_the_error(&recorder, ErrorCause::Panicked, "async kaboom");
}

#[tokio::test]
async fn async_panic_in_a_spawned_task_reaches_the_join_handle_after_the_error_event() {
    let (recorder, callbacks) = recording();

    let joined = tokio::spawn(async move { explode_later(0, &callbacks).await }).await;

    assert!(joined.expect_err("the task must panic").is_panic());
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

#[traced_run(kind = "llm")]
async fn never_finishes(prompt: String, run: &RunManager) -> Result<String, ToolError> {
    run.on_llm_new_token("first")?;
    std::future::pending::<()>().await;
    Ok(prompt)
}

#[traced_run]
async fn waits_on_a_child(prompt: String, run: &RunManager) -> Result<String, ToolError> {
    never_finishes(prompt, run).await
}

#[traced_run(skip(ran))]
async fn marks_when_polled(ran: Arc<AtomicBool>) -> u32 {
    ran.store(true, Ordering::SeqCst);
    1
}

#[tokio::test]
async fn timeout_dropping_the_future_records_one_cancelled_error() {
    let (recorder, callbacks) = recording();

    let outcome = tokio::time::timeout(Duration::from_millis(20), never_finishes("hi".into(), &callbacks)).await;

    assert!(outcome.is_err(), "the timeout must elapse");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::Error]);
    assert_the_error(&recorder, ErrorCause::Cancelled, "cancelled");
}

#[tokio::test]
async fn cancelling_a_parent_cancels_its_pending_child_once_each() {
    let (recorder, callbacks) = recording();

    let outcome = tokio::time::timeout(Duration::from_millis(20), waits_on_a_child("hi".into(), &callbacks)).await;

    assert!(outcome.is_err());
    assert_one_end_per_start(&recorder);
    let errors = errors(&recorder);
    // The child's future is dropped inside its parent's, so the child ends first.
    assert_eq!(
        errors.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
        ["never_finishes", "waits_on_a_child"]
    );
    assert!(errors.iter().all(|(_, error)| error.cause == ErrorCause::Cancelled), "{errors:?}");
}

#[test]
fn dropping_a_never_polled_future_records_nothing_because_it_never_started() {
    let (recorder, callbacks) = recording();
    let ran = Arc::new(AtomicBool::new(false));

    let future = marks_when_polled(ran.clone(), &callbacks);
    drop(future);

    assert!(recorder.is_empty(), "{:?}", recorder.event_types());
    assert!(!ran.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// A handler that raises at the start

#[traced_run(kind = "tool", skip(ran))]
fn guarded(input: String, ran: &AtomicBool) -> Result<String, ToolError> {
    ran.store(true, Ordering::SeqCst);
    Ok(input)
}

#[traced_run(kind = "tool", skip(ran))]
async fn guarded_later(input: String, ran: &AtomicBool) -> Result<String, ToolError> {
    ran.store(true, Ordering::SeqCst);
    tokio::task::yield_now().await;
    Ok(input)
}

#[traced_run(kind = "chain")]
fn calls_guarded(input: String, run: &RunManager) -> Result<String, ToolError> {
    let ran = AtomicBool::new(false);
    let out = guarded(input, &ran, run)?;
    Ok(format!("{out}!"))
}

#[test]
fn start_refused_by_a_raising_handler_skips_the_body_and_returns_the_callers_error() {
    let (recorder, callbacks) = refused_at(EventType::Start);
    let ran = AtomicBool::new(false);

    let (outcome, warnings) = with_warnings(|| guarded("hi".into(), &ran, &callbacks));

    assert_refused(outcome, EventType::Start);
    assert!(!ran.load(Ordering::SeqCst), "the body must not run");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Stopped);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn async_start_refused_by_a_raising_handler_skips_the_body_and_returns_the_callers_error() {
    let (recorder, callbacks) = refused_at(EventType::Start);
    let ran = AtomicBool::new(false);

    let outcome = guarded_later("hi".into(), &ran, &callbacks).await;

    assert_refused(outcome, EventType::Start);
    assert!(!ran.load(Ordering::SeqCst), "the body must not run");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_one_end_per_start(&recorder);
}

#[test]
fn child_start_refused_fails_the_child_and_the_parent_that_propagates_it() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_handler(refuse(EventType::Start).of_kind(RunKind::Tool));

    let outcome = calls_guarded("hi".into(), &callbacks);

    assert_refused(outcome, EventType::Start);
    assert_one_end_per_start(&recorder);
    let errors = errors(&recorder);
    assert_eq!(
        errors.iter().map(|(name, error)| (name.as_str(), error.cause)).collect::<Vec<_>>(),
        [("guarded", ErrorCause::Stopped), ("calls_guarded", ErrorCause::Returned)]
    );
    assert!(errors[1].1.message.contains("budget exceeded"), "{:?}", errors[1].1);
}

#[traced_run(kind = "tool", skip(ran))]
fn read_config(path: String, ran: &AtomicBool, run: &RunManager) -> io::Result<(String, bool)> {
    ran.store(true, Ordering::SeqCst);
    Ok((path, run.is_recording()))
}

#[traced_run(kind = "tool", skip(ran))]
fn plain_count(ran: &AtomicBool) -> usize {
    ran.store(true, Ordering::SeqCst);
    3
}

#[test]
fn start_refused_for_an_io_result_fn_runs_the_body_untraced_and_warns() {
    let (recorder, callbacks) = refused_at(EventType::Start);
    let ran = AtomicBool::new(false);

    let (outcome, warnings) = with_warnings(|| read_config("app.toml".into(), &ran, &callbacks));

    assert_eq!(outcome.ok(), Some(("app.toml".to_owned(), false)));
    assert!(ran.load(Ordering::SeqCst), "the body must run");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("cannot return the error"), "{warnings:?}");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Stopped);
}

#[test]
fn start_refused_for_a_plain_fn_runs_the_body_untraced_and_warns() {
    let (recorder, callbacks) = refused_at(EventType::Start);
    let ran = AtomicBool::new(false);

    let (outcome, warnings) = with_warnings(|| plain_count(&ran, &callbacks));

    assert_eq!(outcome, 3);
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_one_end_per_start(&recorder);
}

// ---------------------------------------------------------------------------------------------
// A handler that raises on a token

#[traced_run(kind = "llm")]
fn stream(tokens: Vec<String>, run: &RunManager) -> Result<String, ToolError> {
    let mut sent = String::new();
    for token in &tokens {
        run.on_llm_new_token(token)?;
        sent.push_str(token);
    }
    Ok(sent)
}

#[traced_run(kind = "llm")]
async fn stream_later(tokens: Vec<String>, run: &RunManager) -> Result<String, ToolError> {
    let mut sent = String::new();
    for token in &tokens {
        tokio::task::yield_now().await;
        run.on_llm_new_token(token)?;
        sent.push_str(token);
    }
    Ok(sent)
}

fn tokens() -> Vec<String> {
    ["Hel", "lo", "!"].map(String::from).to_vec()
}

#[test]
fn token_refused_by_a_raising_handler_leaves_with_question_mark_and_records_the_run_as_stopped() {
    let (recorder, callbacks) = refused_at(EventType::NewToken);

    let outcome = stream(tokens(), &callbacks);

    assert_refused(outcome, EventType::NewToken);
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::Error]);
    // What a budget handler and its users look for: stopped, not an error of the function's own.
    assert_the_error(&recorder, ErrorCause::Stopped, "budget exceeded");
}

#[tokio::test]
async fn async_token_refused_by_a_raising_handler_fails_the_run_once() {
    let (recorder, callbacks) = refused_at(EventType::NewToken);

    let outcome = stream_later(tokens(), &callbacks).await;

    assert_refused(outcome, EventType::NewToken);
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::Error]);
    assert_the_error(&recorder, ErrorCause::Stopped, "budget exceeded");
}

// ---------------------------------------------------------------------------------------------
// A handler that raises at the end or at the error

#[test]
fn end_refused_for_a_result_fn_gives_the_caller_the_error_after_one_end_event() {
    let (recorder, callbacks) = refused_at(EventType::End);

    let (outcome, warnings) = with_warnings(|| stream(tokens(), &callbacks));

    assert_refused(outcome, EventType::End);
    assert_eq!(
        recorder.event_types(),
        [EventType::Start, EventType::NewToken, EventType::NewToken, EventType::NewToken, EventType::End]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn async_end_refused_for_a_result_fn_gives_the_caller_the_error() {
    let (recorder, callbacks) = refused_at(EventType::End);

    let outcome = stream_later(tokens(), &callbacks).await;

    assert_refused(outcome, EventType::End);
    assert_one_end_per_start(&recorder);
    assert_eq!(recorder.event_types().last(), Some(&EventType::End));
}

#[test]
fn end_refused_for_a_plain_fn_returns_the_value_and_warns_once() {
    let (recorder, callbacks) = refused_at(EventType::End);

    let (value, warnings) = with_warnings(|| double(21, &callbacks));

    assert_eq!(value, 42);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
}

#[tokio::test]
async fn end_refused_for_an_async_plain_fn_returns_the_value_and_warns_once() {
    let (recorder, callbacks) = refused_at(EventType::End);
    let ran = Arc::new(AtomicBool::new(false));

    let (value, warnings) = block_on_with_warnings(marks_when_polled(ran.clone(), &callbacks));

    assert_eq!(value, 1);
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_one_end_per_start(&recorder);
}

#[test]
fn error_event_refused_keeps_the_functions_own_error_and_warns_once() {
    let (recorder, callbacks) = refused_at(EventType::Error);

    let (outcome, warnings) = with_warnings(|| divide(1, 0, &callbacks));

    assert!(matches!(outcome, Err(ToolError::BadInput(_))), "{outcome:?}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
}

// ---------------------------------------------------------------------------------------------
// A tree with every kind of ending

#[traced_run]
async fn mixed_children(run: &RunManager) -> usize {
    let mut finished = 0;
    if divide(4, 2, run).is_ok() {
        finished += 1;
    }
    if divide(4, 0, run).is_err() {
        finished += 1;
    }
    if catch_unwind(AssertUnwindSafe(|| explode(0, run))).is_err() {
        finished += 1;
    }
    if tokio::time::timeout(Duration::from_millis(5), never_finishes("x".into(), run)).await.is_err() {
        finished += 1;
    }
    finished
}

#[tokio::test]
async fn every_run_of_a_tree_with_ok_err_panic_and_cancel_children_ends_exactly_once() {
    let (recorder, callbacks) = recording();

    assert_eq!(mixed_children(&callbacks).await, 4);

    assert_one_end_per_start(&recorder);
    assert_eq!(recorder.runs().len(), 5);
    let causes: Vec<(String, ErrorCause)> =
        errors(&recorder).into_iter().map(|(name, error)| (name, error.cause)).collect();
    assert_eq!(
        causes,
        [
            ("divide".to_owned(), ErrorCause::Returned),
            ("explode".to_owned(), ErrorCause::Panicked),
            ("never_finishes".to_owned(), ErrorCause::Cancelled)
        ]
    );
}
