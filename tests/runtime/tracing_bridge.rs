//! The `tracing` bridge: runs as spans, with their fields, nested as the runs are across
//! threads and tasks, and current while a traced body runs.

use std::sync::Arc;

use runtrace::event::{ModelRequest, ModelResponse, Usage};
use runtrace::handlers::TracingBridge;
use runtrace::{CallbackManager, RunKind, traced_run};

use crate::common::{SpanLog, ToolError};

fn bridged() -> CallbackManager {
    CallbackManager::new().with_handler(Arc::new(TracingBridge::new()))
}

/// A multi-thread runtime whose workers, and the thread that blocks on it, report to `log`.
fn runtime_logging_to(log: &SpanLog) -> tokio::runtime::Runtime {
    let dispatch = tracing::Dispatch::new(log.subscriber());
    let on_worker = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .on_thread_start(move || {
            // A worker keeps the subscriber for its whole life: the guard is never dropped.
            std::mem::forget(tracing::dispatcher::set_default(&on_worker));
        })
        .build()
        .expect("a runtime")
}

#[test]
fn a_run_is_a_span_named_run_with_its_fields() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let callbacks = bridged();
        let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?").expect("start");
        let request = || ModelRequest::new("gpt-4o-mini").with_provider("openai");
        let chat = chain.children().start_model_run(RunKind::ChatModel, "chat", &"hi", &request).expect("start");
        chat.report_usage(Usage::new(12, 5)).expect("usage");
        chat.report_response(ModelResponse::new().with_model("gpt-4o-mini-2024-07-18"));
        let (chain_id, chat_id) = (chain.run_id().expect("id"), chat.run_id().expect("id"));
        chat.end(&"4").expect("end");
        chain.end(&"4").expect("end");

        let spans = log.spans();
        let root = log.span_with("run_id", &chain_id.to_string());
        let child = log.span_with("run_id", &chat_id.to_string());
        assert_eq!(spans[root].name, "run");
        assert_eq!(spans[root].field("otel.name"), "answer");
        assert_eq!(spans[root].field("run.kind"), "chain");
        assert_eq!(spans[root].field("trace_id"), chain_id.to_string());
        assert_eq!(spans[root].field("parent_run_id"), "");
        assert_eq!(spans[root].parent, None);
        assert_eq!(spans[child].parent, Some(root));
        assert_eq!(spans[child].field("otel.name"), "chat");
        assert_eq!(spans[child].field("parent_run_id"), chain_id.to_string());
        assert_eq!(spans[child].field("trace_id"), chain_id.to_string());
        assert_eq!(spans[child].field("gen_ai.request.model"), "gpt-4o-mini");
        assert_eq!(spans[child].field("gen_ai.usage.input_tokens"), "12");
        assert_eq!(spans[child].field("gen_ai.usage.output_tokens"), "5");
        assert_eq!(spans[child].field("gen_ai.usage.total_tokens"), "17");
        assert_eq!(spans[child].field("gen_ai.provider.name"), "openai");
        assert_eq!(spans[child].field("gen_ai.response.model"), "gpt-4o-mini-2024-07-18");
        assert_eq!(spans[root].field("gen_ai.request.model"), "", "a chain has no model");
        assert!(spans.iter().all(|span| span.closed == 1), "{spans:?}");
    });
}

#[test]
fn a_root_run_nests_under_the_span_current_where_it_starts() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let request = tracing::info_span!("request");
        let run = request.in_scope(|| bridged().start_run(RunKind::Chain, "answer", &1).expect("start"));
        let run_id = run.run_id().expect("id");
        run.end(&2).expect("end");
        let spans = log.spans();
        let outer = spans.iter().position(|span| span.name == "request");
        assert_eq!(spans[log.span_with("run_id", &run_id.to_string())].parent, outer);
    });
}

#[test]
fn a_failed_run_records_its_error_and_logs_it_in_its_span() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let run = bridged().start_run(RunKind::Tool, "calculator", &"2/0").expect("start");
        let run_id = run.run_id().expect("id");
        run.error(&"division by zero").expect("error");
        let span = log.span_with("run_id", &run_id.to_string());
        assert_eq!(log.spans()[span].field("error"), "division by zero");
        assert_eq!(log.spans()[span].closed, 1);
        let failed: Vec<_> = log.events().into_iter().filter(|event| event.message == "run failed").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].span, Some(span));
    });
}

#[traced_run(kind = "tool")]
async fn calculator(expr: String) -> Result<u64, ToolError> {
    tracing::info!(%expr, "calculating");
    tokio::task::yield_now().await;
    tracing::info!("calculated");
    Ok(4)
}

#[traced_run(kind = "chain")]
async fn answer(request: usize, run: &RunManager) -> Result<u64, ToolError> {
    tracing::info!(request, "answering");
    // The child starts on another task, likely on another thread.
    let child = run.children().clone();
    let spawned = tokio::spawn(async move { calculator("2+2".into(), &child).await });
    let n = spawned.await.map_err(|error| ToolError::BadInput(error.to_string()))??;
    tokio::time::sleep(std::time::Duration::from_micros(50)).await;
    tracing::info!(request, "answered");
    Ok(n)
}

#[test]
fn concurrent_requests_keep_every_span_under_its_own_parent_run() {
    const REQUESTS: usize = 1_000;
    let log = SpanLog::default();
    let runtime = runtime_logging_to(&log);
    let _default = tracing::dispatcher::set_default(&tracing::Dispatch::new(log.subscriber()));
    let callbacks = bridged();
    runtime.block_on(async {
        let requests: Vec<_> = (0..REQUESTS)
            .map(|request| {
                let callbacks = callbacks.clone();
                tokio::spawn(async move { answer(request, &callbacks).await })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.expect("no panic").expect("no error"), 4);
        }
    });

    let spans = log.spans();
    assert_eq!(spans.len(), 2 * REQUESTS);
    for span in &spans {
        assert_eq!(span.closed, 1, "{span:?}");
        assert!(span.entered >= 1 && span.entered == span.exited, "{span:?}");
        match span.field("otel.name") {
            "answer" => assert_eq!(span.parent, None),
            "calculator" => {
                let parent = &spans[span.parent.expect("a calculator span has a parent")];
                assert_eq!(parent.field("run_id"), span.field("parent_run_id"));
                assert_eq!(parent.field("otel.name"), "answer");
            }
            other => panic!("unexpected span {other}"),
        }
    }
    // Every log line is in the span of the run that wrote it, whichever thread it ran on.
    let events = log.events();
    assert_eq!(events.len(), 4 * REQUESTS);
    for event in &events {
        let span = &spans[event.span.expect("a log line inside a run")];
        let expected = if event.message.starts_with("calculat") { "calculator" } else { "answer" };
        assert_eq!(span.field("otel.name"), expected, "{event:?}");
    }
    let answering = events.iter().filter(|event| event.message == "answering").count();
    assert_eq!(answering, REQUESTS);
}
