//! Handler faults: a handler that fails or panics is reported once and the run goes on; a
//! handler that opted in to raising stops the run with an error the caller can match on.

use std::sync::{Arc, Mutex, PoisonError};

use crate::common::{Faulty, Warning, the_error, with_warnings};
use runtrace::event::{ErrorCause, EventType};
use runtrace::handlers::{HandlerResult, RecordingHandler};
use runtrace::{CallbackError, CallbackHandler, CallbackManager, Event, EventData, RunKind};

fn warnings_from<'w>(warnings: &'w [Warning], handler: &str) -> Vec<&'w Warning> {
    warnings.iter().filter(|warning| warning.handler.as_deref() == Some(handler)).collect()
}

/// A streaming model call, the way a traced function makes one: it streams, adds a note, and
/// returns its output.
fn fake_llm(callbacks: &CallbackManager) -> Result<String, CallbackError> {
    let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
    for token in ["Hel", "lo"] {
        run.on_llm_new_token(token)?;
    }
    run.on_text("done streaming")?;
    let output = "Hello".to_owned();
    run.end(&output)?;
    Ok(output)
}

#[test]
fn failing_and_panicking_handlers_are_reported_once_each_and_the_run_goes_on() {
    let recorder = Arc::new(RecordingHandler::new());
    // Neither faulty handler opts in to raising.
    let callbacks = CallbackManager::new()
        .with_handler(Faulty::fails_at("fails-on-tokens", [EventType::NewToken], "cannot store the token"))
        .with_handler(Faulty::panics_at("panics-on-text", [EventType::Text], "the text sink is gone"))
        .with_handler(recorder.clone());

    let (output, warnings) = with_warnings(|| fake_llm(&callbacks));

    assert_eq!(output.expect("faults of handlers that do not raise never stop the run"), "Hello");
    assert_eq!(
        recorder.event_types(),
        [EventType::Start, EventType::NewToken, EventType::NewToken, EventType::Text, EventType::End],
        "the handler after the faulty ones saw every event"
    );
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert_eq!(warnings_from(&warnings, "fails-on-tokens").len(), 2, "one warning per failed token: {warnings:?}");
    assert_eq!(warnings_from(&warnings, "panics-on-text").len(), 1, "{warnings:?}");
}

/// Fails on the start of a run, once, without opting in to raising.
fn fails_on_start() -> Faulty {
    Faulty::fails_at("fails-on-start", [EventType::Start], "cannot reach the collector")
}

#[test]
fn handler_that_errs_once_and_one_that_panics_once_give_exactly_one_warning_each() {
    let recorder = Arc::new(RecordingHandler::new());
    // The recorder first, then the faulty handlers, then the recorder's twin after them.
    let after = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new()
        .with_handler(recorder.clone())
        .with_handler(fails_on_start())
        .with_handler(Faulty::panics_at("panics-on-end", [EventType::End], "the exporter crashed"))
        .with_handler(after.clone());

    let (output, warnings) = with_warnings(|| fake_llm(&callbacks));

    assert_eq!(output.expect("the run completes"), "Hello");
    for seen in [&recorder, &after] {
        assert_eq!(seen.len(), 5, "every event reached the healthy handlers");
        assert!(matches!(&seen.events()[4].data, EventData::End(end) if end.outputs.get() == "Hello"));
    }
    let fails = warnings_from(&warnings, "fails-on-start");
    let panics = warnings_from(&warnings, "panics-on-end");
    assert_eq!((fails.len(), panics.len(), warnings.len()), (1, 1, 2), "{warnings:?}");
}

#[test]
fn warning_names_the_handler_and_says_the_run_goes_on() {
    let callbacks = CallbackManager::new().with_handler(fails_on_start());
    let (output, warnings) = with_warnings(|| fake_llm(&callbacks));
    assert!(output.is_ok());
    let [warning] = &warnings[..] else { panic!("expected one warning, got {warnings:?}") };
    assert_eq!(warning.handler.as_deref(), Some("fails-on-start"));
    assert!(warning.message.contains("goes on"), "{warning:?}");
}

/// The error a token-budget handler stops a run with.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("token budget of {limit} exceeded")]
struct BudgetExceeded {
    limit: usize,
}

/// Stops runs: refuses every start, or every token past `limit`.
struct TokenBudget {
    limit: usize,
    refuse_start: bool,
    seen: Mutex<usize>,
}

impl TokenBudget {
    fn refusing_starts() -> Self {
        TokenBudget { limit: 0, refuse_start: true, seen: Mutex::new(0) }
    }

    fn of(limit: usize) -> Self {
        TokenBudget { limit, refuse_start: false, seen: Mutex::new(0) }
    }
}

impl CallbackHandler for TokenBudget {
    fn on_run_start(&self, _event: &Event<'_>, _start: &runtrace::event::RunStart<'_>) -> HandlerResult {
        if self.refuse_start {
            return Err(Box::new(BudgetExceeded { limit: self.limit }));
        }
        Ok(())
    }

    fn on_llm_new_token(&self, _event: &Event<'_>, _token: &str) -> HandlerResult {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        *seen += 1;
        if *seen > self.limit {
            return Err(Box::new(BudgetExceeded { limit: self.limit }));
        }
        Ok(())
    }

    fn raise_error(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        "token-budget"
    }
}

fn budget_of(error: &CallbackError) -> Option<&BudgetExceeded> {
    match error {
        CallbackError::Raised { source, .. } => source.downcast_ref::<BudgetExceeded>(),
        _ => None,
    }
}

#[test]
fn raising_handler_at_start_gives_the_caller_its_own_error_and_the_run_one_error_event() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::refusing_starts()).with_handler(recorder.clone());

    let (started, warnings) = with_warnings(|| callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello"));

    let error = started.expect_err("a raising handler refused the start");
    match &error {
        CallbackError::Raised { handler, event, .. } => {
            assert_eq!(handler, "token-budget");
            assert_eq!(*event, EventType::Start);
        }
        other => panic!("expected CallbackError::Raised, got {other:?}"),
    }
    assert_eq!(budget_of(&error), Some(&BudgetExceeded { limit: 0 }));
    assert!(error.handler_error().is_some_and(|source| source.is::<BudgetExceeded>()));
    assert!(warnings.is_empty(), "a raised error is the caller's, not a warning: {warnings:?}");

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Stopped);
}

#[test]
fn raising_handler_on_a_token_makes_on_llm_new_token_return_its_error() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::of(2)).with_handler(recorder.clone());

    let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
    run.on_llm_new_token("Hel")?;
    run.on_llm_new_token("lo")?;
    let error = run.on_llm_new_token("!").expect_err("the third token is over budget");

    assert!(matches!(&error, CallbackError::Raised { event: EventType::NewToken, .. }), "{error:?}");
    assert_eq!(budget_of(&error), Some(&BudgetExceeded { limit: 2 }));
    assert_eq!(recorder.len(), 4, "the handler after the raising one still got the token");
    run.error(&error)?;
    Ok(())
}

#[test]
fn run_stopped_by_a_raising_handler_and_ended_with_the_error_gets_one_error_event() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::of(0)).with_handler(recorder.clone());

    // What a traced function does with `run.on_llm_new_token(t)?`: the error ends the run.
    let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
    let error = run.on_llm_new_token("Hel").expect_err("over budget");
    run.error(&error)?;

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::Error]);
    let error = the_error(&recorder);
    assert_eq!(error.cause, ErrorCause::Stopped, "the handler stopped it: recorded as stopped");
    assert!(error.message.contains("token budget of 0 exceeded"), "{error:?}");
    Ok(())
}

#[test]
fn run_stopped_by_a_raising_handler_and_dropped_gets_one_cancelled_error_event() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::of(0)).with_handler(recorder.clone());

    let stream = || -> Result<(), CallbackError> {
        let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
        run.on_llm_new_token("Hel")?; // `?` drops the guard unended
        run.end(&"Hello")
    };
    let error = stream().expect_err("over budget");

    assert!(budget_of(&error).is_some());
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Cancelled);
}

#[test]
fn raising_handler_that_panics_stops_the_run_with_an_error_not_a_panic() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    // Panics on tokens, and opted in to raising.
    let panicking_budget =
        Faulty::panics_at("panicking-budget", [EventType::NewToken], "budget bookkeeping broke").raising();
    let callbacks = CallbackManager::new().with_handler(panicking_budget).with_handler(recorder.clone());

    let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
    let error = run.on_llm_new_token("Hel").expect_err("the raising handler panicked");

    assert!(matches!(&error, CallbackError::Raised { handler, .. } if handler == "panicking-budget"));
    assert!(error.to_string().contains("budget bookkeeping broke"), "{error}");
    assert_eq!(recorder.len(), 2, "the other handler still got the token");
    run.error(&error)
}

#[test]
fn raising_handler_failing_on_the_end_makes_end_return_its_error_and_adds_no_error_event() {
    let recorder = Arc::new(RecordingHandler::new());
    let refuses_ends = Faulty::fails_at("refuses-ends", [EventType::End], "the end was rejected").raising();
    let callbacks = CallbackManager::new().with_handler(refuses_ends).with_handler(recorder.clone());

    let (ended, warnings) = with_warnings(|| {
        let run = callbacks.start_run(RunKind::Tool, "calculator", &"2+2").expect("starts are accepted");
        run.end(&4)
    });

    assert!(matches!(ended, Err(CallbackError::Raised { event: EventType::End, .. })), "{ended:?}");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End], "one end, no error after it");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn raising_handler_failing_on_a_dropped_runs_error_event_is_reported_once() {
    let recorder = Arc::new(RecordingHandler::new());
    let refuses_ends_and_errors =
        Faulty::fails_at("refuses-ends", [EventType::End, EventType::Error], "the end was rejected").raising();
    let callbacks = CallbackManager::new().with_handler(refuses_ends_and_errors).with_handler(recorder.clone());

    let ((), warnings) = with_warnings(|| {
        let run = callbacks.start_run(RunKind::Tool, "calculator", &"2+2").expect("starts are accepted");
        drop(run); // no caller is left to return the failure to
    });

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn raising_handler_that_also_fails_on_the_stop_error_event_still_leaves_one_error_event() {
    let recorder = Arc::new(RecordingHandler::new());
    let refuses_everything =
        Faulty::fails_at_every_event("refuses-everything", "collector rejected the event").raising();
    let callbacks = CallbackManager::new().with_handler(refuses_everything).with_handler(recorder.clone());

    let (started, warnings) = with_warnings(|| callbacks.start_run(RunKind::Chain, "answer", &()));

    assert!(matches!(started, Err(CallbackError::Raised { event: EventType::Start, .. })));
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(warnings.len(), 1, "its failure on the error event has no caller left: {warnings:?}");
}

#[test]
fn run_whose_code_panics_gets_a_panicked_error_event_and_the_panic_goes_on() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());

    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let run = callbacks.start_run(RunKind::Tool, "calculator", &"1/0").expect("no handler raises");
        run.on_text("dividing").expect("no handler raises");
        panic!("attempt to divide by zero");
    }));

    let payload = unwound.expect_err("the panic reached the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"attempt to divide by zero"));
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Text, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Panicked);
}

#[test]
fn handler_panicking_on_the_error_event_of_a_panicking_run_is_reported_and_does_not_abort() {
    let recorder = Arc::new(RecordingHandler::new());
    let panics_on_errors = Faulty::panics_at("panics-on-errors", [EventType::Error], "the error sink is gone");
    let callbacks = CallbackManager::new().with_handler(panics_on_errors).with_handler(recorder.clone());

    let (unwound, warnings) = with_warnings(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _run = callbacks.start_run(RunKind::Tool, "calculator", &"1/0").expect("no handler raises");
            panic!("attempt to divide by zero");
        }))
    });

    assert!(unwound.is_err(), "the traced code's panic went on");
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Panicked);
    assert_eq!(warnings_from(&warnings, "panics-on-errors").len(), 1, "{warnings:?}");
}

/// A value whose `Serialize` impl panics.
struct Explosive;

impl serde::Serialize for Explosive {
    fn serialize<S: serde::Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
        panic!("cannot serialize this")
    }
}

/// Regression: a panicking `Serialize` escaped dispatch between a run's start and its end,
/// leaving the run without an end; it is now recorded as unrecordable.
#[test]
fn a_panicking_serialize_impl_is_recorded_and_the_run_still_ends() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let run = callbacks.start_run(RunKind::Tool, "explosive", &Explosive)?;
    run.end(&Explosive)?;

    let events = recorder.events();
    assert_eq!(events.len(), 2, "the start and the end both arrived");
    let EventData::Start(start) = &events[0].data else { panic!("first event is the start") };
    assert!(start.inputs.get().as_str().is_some_and(|text| text.contains("panicked")));
    Ok(())
}

/// A reason or error whose `Display` panics: the user's code, run inside runtrace.
struct PanickingDisplay;

impl std::fmt::Display for PanickingDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("the message catalogue is not loaded")
    }
}

impl std::fmt::Debug for PanickingDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanickingDisplay")
    }
}

impl std::error::Error for PanickingDisplay {}

/// A reason whose `Display` returns `fmt::Error`, which `to_string` turns into a panic.
struct FailingDisplay;

impl std::fmt::Display for FailingDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[test]
fn run_guard_error_whose_display_panics_returns_and_the_run_gets_its_error_event() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());

    let run = callbacks.start_run(RunKind::Tool, "translate", &"hola")?;
    run.error(&PanickingDisplay)?;
    let run = callbacks.start_run(RunKind::Tool, "translate", &"hola")?;
    run.error(&FailingDisplay)?;

    let messages: Vec<String> = crate::common::errors(&recorder).into_iter().map(|(_, error)| error.message).collect();
    assert_eq!(
        messages,
        ["<unrenderable: its Display impl panicked>", "<unrenderable: its Display impl returned an error>"]
    );
    Ok(())
}

#[test]
fn on_retry_whose_reason_cannot_be_displayed_is_recorded_as_unrenderable() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;

    run.on_retry(1, PanickingDisplay)?;
    run.on_retry(2, FailingDisplay)?;
    run.end(&"Hello")?;

    let reasons: Vec<String> = recorder
        .events()
        .into_iter()
        .filter_map(|event| match event.data {
            EventData::Retry(retry) => Some(retry.reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        ["<unrenderable: its Display impl panicked>", "<unrenderable: its Display impl returned an error>"]
    );
    assert_eq!(recorder.event_types().last(), Some(&EventType::End));
    Ok(())
}

/// Fails with an error whose `Display` panics.
struct FailsUnrenderably;

impl CallbackHandler for FailsUnrenderably {
    fn on_event(&self, _: &Event<'_>) -> HandlerResult {
        Err(Box::new(PanickingDisplay))
    }

    fn name(&self) -> &str {
        "fails-unrenderably"
    }
}

#[test]
fn handler_error_whose_display_panics_is_reported_as_unrenderable_and_the_run_goes_on() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(FailsUnrenderably).with_handler(recorder.clone());

    let (output, warnings) = with_warnings(|| fake_llm(&callbacks));

    assert_eq!(output.expect("the run goes on"), "Hello");
    assert_eq!(recorder.len(), 5, "every event reached the recorder");
    assert_eq!(warnings_from(&warnings, "fails-unrenderably").len(), 5, "{warnings:?}");
}

/// Regression: with no `tracing` subscriber, runtrace's warnings were invisible. Without
/// one, each kind is written once on standard error; with one, nothing is.
#[test]
fn warnings_without_a_subscriber_go_to_stderr_once_per_kind_and_handler() -> Result<(), Box<dyn std::error::Error>> {
    // Standard error is the process's, so the program is this test binary run again, for
    // the one test below, named by its path in this binary.
    let child = concat!(module_path!(), "::warnings_without_a_subscriber_child");
    let child = child.split_once("::").map_or(child, |(_crate, path)| path);
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([child, "--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .env("RUNTRACE_TEST_STDERR_CHILD", "1")
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{}\n{stderr}", String::from_utf8_lossy(&output.stdout));

    let warnings: Vec<&str> = stderr.lines().filter(|line| line.starts_with("runtrace: warning:")).collect();
    let about = |handler: &str| warnings.iter().filter(|line| line.contains(&format!("`{handler}`"))).count();
    assert_eq!(about("fails-on-tokens"), 1, "told once, though it failed on two tokens of two runs: {warnings:?}");
    assert_eq!(about("fails-on-start"), 1, "each handler is told: {warnings:?}");
    assert_eq!(about("subscribed"), 0, "a subscriber took its warnings: {warnings:?}");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().any(|line| line.contains("cannot store the token") && line.contains("the run goes on")),
        "the warning says what failed: {warnings:?}"
    );
    Ok(())
}

#[test]
#[ignore = "the program of warnings_without_a_subscriber_go_to_stderr_once_per_kind_and_handler, which runs it"]
fn warnings_without_a_subscriber_child() -> Result<(), CallbackError> {
    if std::env::var_os("RUNTRACE_TEST_STDERR_CHILD").is_none() {
        return Ok(());
    }
    let subscribed =
        CallbackManager::new().with_handler(Faulty::fails_at("subscribed", [EventType::Start], "collected instead"));
    let (_, collected) = with_warnings(|| fake_llm(&subscribed));
    assert_eq!(collected.len(), 1);

    let callbacks = CallbackManager::new()
        .with_handler(Faulty::fails_at("fails-on-tokens", [EventType::NewToken], "cannot store the token"))
        .with_handler(fails_on_start());
    fake_llm(&callbacks)?;
    fake_llm(&callbacks)?;
    Ok(())
}
