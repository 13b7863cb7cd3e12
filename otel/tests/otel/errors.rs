//! Failed runs: an `Err`, a panic, a cancellation and a budget stop each end their span with
//! status `Error` and an `exception` event.

use std::time::Duration;

use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;
use runtrace::handlers::TokenBudget;
use runtrace::prelude::*;
use runtrace_otel::attributes::{genai, langfuse, runtrace as ours};

use crate::common::*;

#[derive(Debug, thiserror::Error)]
#[error("division by zero in {0:?}")]
struct MathError(String);

#[traced_run(kind = "tool")]
fn divide(expr: String) -> Result<f64, MathError> {
    Err(MathError(expr))
}

#[traced_run(kind = "tool")]
fn explode(input: u32) -> u32 {
    panic!("the tool exploded on {input}")
}

#[traced_run(kind = "llm")]
async fn slow_llm(prompt: String) -> String {
    tokio::time::sleep(Duration::from_secs(60)).await;
    prompt
}

fn exception(span: &SpanData) -> (String, String, String) {
    let event = span.events.iter().find(|e| e.name == "exception").expect("an exception event");
    let get =
        |key: &str| event.attributes.iter().find(|kv| kv.key.as_str() == key).unwrap().value.as_str().into_owned();
    (get("exception.type"), get("exception.message"), get(ours::ERROR_CAUSE))
}

fn assert_error(span: &SpanData, message: &str, cause: &str) {
    assert_eq!(span.status, Status::error(message.to_owned()));
    let (_, exception_message, exception_cause) = exception(span);
    assert_eq!(exception_message, message);
    assert_eq!(exception_cause, cause);
    assert_eq!(text(span, ours::ERROR_CAUSE), cause);
    assert_eq!(text(span, langfuse::OBSERVATION_LEVEL), "ERROR");
    assert_eq!(text(span, langfuse::OBSERVATION_STATUS_MESSAGE), message);
}

#[test]
fn an_err_ends_its_span_with_an_error_and_an_exception() {
    let (otel, spans) = handler(|b| b);
    assert!(divide("1/0".into(), otel.callbacks()).is_err());
    let span = finished(&otel, &spans).remove(0);
    assert_error(&span, "division by zero in \"1/0\"", "returned");
    assert!(exception(&span).0.ends_with("MathError"));
    assert!(text(&span, genai::ERROR_TYPE).ends_with("MathError"));
}

#[test]
fn a_panic_ends_its_span_with_an_error() {
    let (otel, spans) = handler(|b| b);
    let callbacks = otel.callbacks();
    assert!(std::panic::catch_unwind(|| explode(7, &callbacks)).is_err());
    let span = finished(&otel, &spans).remove(0);
    assert_eq!(exception(&span).2, "panicked");
    assert!(exception(&span).1.contains("the tool exploded on 7"));
}

#[tokio::test]
async fn a_cancelled_run_ends_its_span_with_an_error() {
    let (otel, spans) = handler(|b| b);
    let cancelled = tokio::time::timeout(Duration::from_millis(20), slow_llm("hi".into(), otel.callbacks())).await;
    assert!(cancelled.is_err());
    otel.flush().await;
    let span = spans.get_finished_spans().unwrap().remove(0);
    assert_eq!(exception(&span).2, "cancelled");
    assert!(matches!(span.status, Status::Error { .. }));
}

#[test]
fn a_budget_stop_ends_its_span_with_an_error_and_keeps_the_tokens() {
    let (otel, spans) = handler(|b| b);
    let callbacks = otel.attach(CallbackManager::new().with_handler(TokenBudget::streamed(2)));
    assert!(chat("hi".into(), &callbacks).is_err());
    let span = finished(&otel, &spans).remove(0);
    assert_eq!(exception(&span).2, "stopped");
    assert_eq!(int(&span, ours::STREAMED_TOKENS), 3);
}
