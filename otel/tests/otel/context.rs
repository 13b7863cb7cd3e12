//! Ambient OpenTelemetry context, both ways.

use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use runtrace::prelude::*;
use runtrace_otel::attributes::langsmith;
use runtrace_otel::{context_of, span_id_of};

use crate::common::*;

fn request_span() -> SpanContext {
    SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )
}

#[test]
fn a_root_run_inside_an_opentelemetry_span_becomes_its_child() {
    let (otel, spans) = handler(|b| b);
    let request = request_span();
    {
        let _attached = Context::current().with_remote_span_context(request.clone()).attach();
        answer("2 + 2?".into(), otel.callbacks()).unwrap();
    }
    let spans = finished(&otel, &spans);
    let root = named(&spans, "answer");
    assert_eq!(root.parent_span_id, request.span_id());
    assert!(root.parent_span_is_remote);
    for span in &spans {
        assert_eq!(span.span_context.trace_id(), request.trace_id(), "{} joins the request's trace", span.name);
    }
    // The LangSmith identity stays the runs' own.
    assert_ne!(text(root, langsmith::TRACE_ID), request.trace_id().to_string());
}

#[test]
fn outside_any_span_a_root_run_starts_its_own_trace() {
    let (otel, spans) = handler(|b| b);
    answer("2 + 2?".into(), otel.callbacks()).unwrap();
    let spans = finished(&otel, &spans);
    assert_eq!(named(&spans, "answer").parent_span_id, SpanId::INVALID);
}

#[traced_run(kind = "tool")]
fn fetch(url: String, run: &RunManager) -> String {
    // What an instrumented HTTP client would do inside the tool.
    let tracer = LIBRARY.with(|(provider, _)| provider.tracer("http-client"));
    let span = tracer.start_with_context("GET", &context_of(run));
    drop(span);
    url
}

thread_local! {
    static LIBRARY: (SdkTracerProvider, InMemorySpanExporter) = {
        let spans = InMemorySpanExporter::default();
        (SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build(), spans)
    };
}

#[test]
fn spans_of_other_libraries_nest_under_the_run() {
    let (otel, spans) = handler(|b| b);
    let request = request_span();
    {
        let _attached = Context::current().with_remote_span_context(request.clone()).attach();
        fetch("https://example.com".into(), otel.callbacks());
    }
    let spans = finished(&otel, &spans);
    let tool = named(&spans, "execute_tool fetch");
    let library = LIBRARY.with(|(_, spans)| spans.get_finished_spans().unwrap()).remove(0);
    assert_eq!(library.parent_span_id, tool.span_context.span_id());
    assert_eq!(library.span_context.trace_id(), tool.span_context.trace_id());
    assert_eq!(library.span_context.trace_id(), request.trace_id());
}

#[test]
fn an_unrecorded_run_lends_the_current_context() {
    let run = CallbackManager::none().start_run(runtrace::RunKind::Tool, "quiet", &()).unwrap();
    let request = request_span();
    let _attached = Context::current().with_remote_span_context(request.clone()).attach();
    assert_eq!(context_of(run.run()).span().span_context().span_id(), request.span_id());
    let recorded = CallbackManager::new().with_handler(runtrace::handlers::RecordingHandler::new());
    let run = recorded.start_run(runtrace::RunKind::Tool, "loud", &()).unwrap();
    assert_eq!(context_of(run.run()).span().span_context().span_id(), span_id_of(run.run_id().unwrap()));
}
