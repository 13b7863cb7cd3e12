//! Runs become spans: one each, with their parents, trace, ids, times and events.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, Status};
use runtrace::event::ModelRequest;
use runtrace::handlers::RecordingHandler;

use runtrace::{EventData, RunKind};
use runtrace_otel::attributes::{langsmith, runtrace as ours};
use runtrace_otel::{TokenEvents, span_id_of, trace_id_of};

use crate::common::*;

#[test]
fn every_run_is_one_span_under_its_parent_in_the_root_runs_trace() {
    let (otel, spans) = handler(|b| b);
    answer("What is 2 + 2?".into(), otel.callbacks()).unwrap();
    let spans = finished(&otel, &spans);
    assert_eq!(spans.len(), 3);
    let (root, tool, llm) = (
        named(&spans, "answer"),
        named(&spans, "execute_tool calculator"),
        named(&spans, "chat gpt-4o-mini-2024-07-18"),
    );
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(tool.parent_span_id, root.span_context.span_id());
    assert_eq!(llm.parent_span_id, root.span_context.span_id());
    for span in &spans {
        assert_eq!(span.span_context.trace_id(), root.span_context.trace_id());
        assert_eq!(span.status, Status::Ok);
    }
    let root_id: runtrace::RunId = text(root, langsmith::SPAN_ID).parse().unwrap();
    assert_eq!(root.span_context.trace_id(), trace_id_of(root_id));
    assert_eq!(root.span_context.span_id(), span_id_of(root_id));
    assert_eq!(llm.span_kind, SpanKind::Client);
    assert_eq!(tool.span_kind, SpanKind::Internal);
    assert_eq!(otel.open_runs(), 0);
    assert_eq!(otel.exported_spans(), 3);
}

#[test]
fn spans_start_and_end_when_runtrace_recorded() {
    let (otel, spans) = handler(|b| b);
    let recorder = Arc::new(RecordingHandler::new());
    answer("2 + 2?".into(), otel.callbacks().with_handler(recorder.clone())).unwrap();
    let spans = finished(&otel, &spans);
    for event in recorder.events() {
        let span = spans.iter().find(|s| s.span_context.span_id() == span_id_of(event.run.run_id)).unwrap();
        match event.data {
            EventData::Start(_) => assert_eq!(span.start_time, event.time()),
            EventData::End(_) => assert_eq!(span.end_time, event.time()),
            _ => assert!(span.start_time <= event.time() && event.time() <= span.end_time),
        }
    }
}

#[test]
fn streamed_tokens_are_events_or_only_counted() {
    let (otel, spans) = handler(|b| b);
    chat("hi".into(), otel.callbacks()).unwrap();
    let each = finished(&otel, &spans).remove(0);
    let tokens: Vec<_> = each.events.iter().filter(|e| e.name == "new_token").collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(|t| t.attributes.is_empty()), "no token text without message content");
    assert_eq!(int(&each, ours::STREAMED_TOKENS), 3);
    assert!(text(&each, ours::TIME_TO_FIRST_TOKEN_MS).parse::<f64>().unwrap() >= 0.0);

    let (otel, spans) = handler(|b| b.with_token_events(TokenEvents::CountOnly));
    chat("hi".into(), otel.callbacks()).unwrap();
    let counted = finished(&otel, &spans).remove(0);
    assert!(counted.events.is_empty());
    assert_eq!(int(&counted, ours::STREAMED_TOKENS), 3);
}

#[test]
fn span_events_are_capped_and_counted() {
    let (otel, spans) = handler(|b| b);
    let run = otel.callbacks().start_run(RunKind::Llm, "chatty", &()).unwrap();
    for _ in 0..runtrace_otel::MAX_SPAN_EVENTS + 10 {
        run.run().on_llm_new_token("x").unwrap();
    }
    run.end(&"x").unwrap();
    let span = finished(&otel, &spans).remove(0);
    assert_eq!(span.events.len(), runtrace_otel::MAX_SPAN_EVENTS);
    assert_eq!(span.events.dropped_count, 10);
}

#[test]
fn dotted_orders_join_every_ancestor() {
    let (otel, spans) = handler(|b| b);
    answer("2 + 2?".into(), otel.callbacks()).unwrap();
    let spans = finished(&otel, &spans);
    let root = text(named(&spans, "answer"), langsmith::SPAN_DOTTED_ORDER);
    let tool = text(named(&spans, "execute_tool calculator"), langsmith::SPAN_DOTTED_ORDER);
    assert_eq!(root.len(), 22 + 36);
    assert!(root.ends_with(&text(named(&spans, "answer"), langsmith::SPAN_ID)));
    let (parent, own) = tool.rsplit_once('.').unwrap();
    assert_eq!(parent, root);
    assert!(own.ends_with(&text(named(&spans, "execute_tool calculator"), langsmith::SPAN_ID)));
    assert!(own[..22] >= root[..22], "a child starts no earlier than its parent");
}

#[test]
fn a_child_started_after_its_parent_ended_keeps_its_parent() {
    let (otel, spans) = handler(|b| b);
    let root = otel.callbacks().start_run(RunKind::Chain, "root", &()).unwrap();
    let first = root.run().children().start_run(RunKind::Chain, "first", &()).unwrap();
    let first_children = first.run().children().clone();
    first.end(&()).unwrap();
    let late = first_children.start_run(RunKind::Tool, "late", &()).unwrap();
    late.end(&()).unwrap();
    root.end(&()).unwrap();
    let spans = finished(&otel, &spans);
    let (first, late) = (named(&spans, "first"), named(&spans, "execute_tool late"));
    assert_eq!(late.parent_span_id, first.span_context.span_id());
    let first_order = text(first, langsmith::SPAN_DOTTED_ORDER);
    assert!(text(late, langsmith::SPAN_DOTTED_ORDER).starts_with(&format!("{first_order}.")));
}

#[test]
fn spans_of_a_tree_still_open_go_out_after_the_scheduled_delay() {
    let (otel, spans) = handler(|b| b.with_scheduled_delay(Duration::from_millis(50)));
    let root = otel.callbacks().start_run(RunKind::Chain, "server", &()).unwrap();
    root.run().children().start_run(RunKind::Tool, "request", &()).unwrap().end(&()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while spans.get_finished_spans().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the child was exported while its root is open");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(spans.get_finished_spans().unwrap()[0].name, "execute_tool request");
    root.end(&()).unwrap();
    assert_eq!(finished(&otel, &spans).len(), 2);
}

#[test]
fn span_names_follow_the_genai_conventions() {
    let (otel, spans) = handler(|b| b);
    let callbacks = otel.callbacks();
    let model = || ModelRequest::new("text-embedding-3-small");
    callbacks.start_model_run(RunKind::Embedding, "embed", &"hi", &model).unwrap().end(&[0.1]).unwrap();
    callbacks.start_run(RunKind::Llm, "complete", &"hi").unwrap().end(&"hello").unwrap();
    callbacks.start_run(RunKind::Agent, "planner", &"hi").unwrap().end(&"done").unwrap();
    callbacks.start_run(RunKind::Retriever, "docs", &"hi").unwrap().end(&["doc"]).unwrap();
    let names: Vec<_> = finished(&otel, &spans).into_iter().map(|s| s.name.into_owned()).collect();
    assert_eq!(
        names,
        ["embeddings text-embedding-3-small", "text_completion complete", "invoke_agent planner", "docs"]
    );

    let (otel, spans) = handler(|b| b.with_genai(false));
    otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2").unwrap().end(&4).unwrap();
    assert_eq!(finished(&otel, &spans)[0].name, "calculator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_trees_apart() {
    let (otel, spans) = handler(|b| b);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let callbacks = otel.callbacks();
            tokio::spawn(async move { answer(format!("question {i}"), &callbacks).unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    otel.flush().await;
    let spans = spans.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 60);
    for span in spans.iter().filter(|s| s.parent_span_id != SpanId::INVALID) {
        let parent = spans.iter().find(|p| p.span_context.span_id() == span.parent_span_id).unwrap();
        assert_eq!(parent.span_context.trace_id(), span.span_context.trace_id());
        assert_eq!(parent.name, "answer");
    }
}
