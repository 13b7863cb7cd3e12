//! `#[traced_run]` with the `tracing` bridge: the run's span is current while the body runs,
//! stacks with `#[tracing::instrument]` in either order, and closes once however the run ends.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use runtrace::handlers::TracingBridge;
use runtrace::{CallbackManager, traced_run};

use crate::common::{SpanLog, ToolError};

fn bridged() -> CallbackManager {
    CallbackManager::new().with_handler(Arc::new(TracingBridge::new()))
}

/// The span, by log index, of the only event whose message is `message`.
fn span_of_line(log: &SpanLog, message: &str) -> Option<usize> {
    let events = log.events();
    let lines: Vec<_> = events.iter().filter(|event| event.message == message).collect();
    let [line] = lines[..] else { panic!("expected one line {message:?}, got {events:?}") };
    line.span
}

#[traced_run(kind = "tool")]
fn add(a: u64, b: u64) -> u64 {
    tracing::info!("adding");
    a + b
}

#[test]
fn a_sync_body_logs_inside_its_run_span_and_the_caller_outside() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        assert_eq!(add(2, 2, bridged()), 4);
        tracing::info!("after");
        let run = log.span_with("otel.name", "add");
        assert_eq!(span_of_line(&log, "adding"), Some(run));
        assert_eq!(span_of_line(&log, "after"), None);
        assert_eq!(log.spans()[run].closed, 1);
    });
}

#[test]
fn without_a_bridge_a_traced_body_makes_no_span() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let (_recorder, callbacks) = crate::common::recording();
        assert_eq!(add(1, 1, &callbacks), 2);
        assert!(log.spans().is_empty());
        assert_eq!(span_of_line(&log, "adding"), None);
    });
}

#[tracing::instrument(skip_all)]
#[traced_run(kind = "tool")]
fn instrumented_above(x: u64) -> u64 {
    tracing::info!("above body");
    x
}

#[traced_run(kind = "tool")]
#[tracing::instrument(skip_all)]
fn instrumented_below(x: u64) -> u64 {
    tracing::info!("below body");
    x
}

// Attributes expand from the top, each keeping those below it on the function it writes, so
// the one written lower wraps the code of the one above.

#[test]
fn instrument_above_traced_run_makes_its_span_a_child_of_the_run() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        assert_eq!(instrumented_above(1, bridged()), 1);
        let spans = log.spans();
        let instrument = spans.iter().position(|span| span.name == "instrumented_above").expect("its span");
        let run = log.span_with("otel.name", "instrumented_above");
        assert_eq!(spans[run].parent, None);
        assert_eq!(spans[instrument].parent, Some(run));
        assert_eq!(span_of_line(&log, "above body"), Some(instrument));
    });
}

#[test]
fn instrument_below_traced_run_makes_the_run_span_its_child() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        assert_eq!(instrumented_below(1, bridged()), 1);
        let spans = log.spans();
        let instrument = spans.iter().position(|span| span.name == "instrumented_below");
        let run = log.span_with("otel.name", "instrumented_below");
        assert!(instrument.is_some());
        assert_eq!(spans[run].parent, instrument);
        assert_eq!(span_of_line(&log, "below body"), Some(run));
    });
}

#[traced_run(kind = "llm")]
async fn never_answers() -> Result<String, ToolError> {
    tracing::info!("waiting");
    std::future::pending::<()>().await;
    Ok(String::new())
}

#[test]
fn a_cancelled_run_closes_its_span_once() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let callbacks = bridged();
        {
            let mut call = pin!(never_answers(&callbacks));
            assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        }
        let run = log.span_with("otel.name", "never_answers");
        assert_eq!(span_of_line(&log, "waiting"), Some(run));
        let span = &log.spans()[run];
        assert_eq!(span.closed, 1);
        assert!(span.field("error").contains("cancel"), "{span:?}");
    });
}

#[traced_run(kind = "tool")]
async fn divide(a: u64, b: u64) -> Result<u64, ToolError> {
    tracing::info!("dividing");
    Ok(a.checked_div(b).unwrap_or_else(|| panic!("division by zero")))
}

#[test]
fn a_panicking_run_closes_its_span_once() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let callbacks = bridged();
        let mut call = Box::pin(divide(1, 0, &callbacks));
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            call.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }));
        assert!(polled.is_err());
        drop(call);
        let run = log.span_with("otel.name", "divide");
        assert_eq!(span_of_line(&log, "dividing"), Some(run));
        let span = &log.spans()[run];
        assert_eq!(span.closed, 1);
        assert!(span.field("error").contains("division by zero"), "{span:?}");
    });
}
