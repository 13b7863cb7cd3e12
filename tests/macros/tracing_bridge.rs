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
        let span = &log.spans()[run];
        assert_eq!((span.entered, span.exited, span.closed), (1, 1, 1), "{span:?}");
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
        assert_eq!((span.entered, span.exited), (1, 1), "one poll, left before it closed");
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
        assert_eq!((span.entered, span.exited), (1, 1), "left by the poll that panicked");
        assert!(span.field("error").contains("division by zero"), "{span:?}");
    });
}

#[traced_run(kind = "tool")]
fn explode(reason: &str) -> u64 {
    tracing::info!("about to fail");
    panic!("{reason}")
}

#[test]
fn a_panicking_sync_run_closes_its_span_once_and_leaves_it() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let callbacks = bridged();
        let caught = std::panic::catch_unwind(|| explode("disk full", &callbacks));
        assert!(caught.is_err());
        tracing::info!("after the panic");
        let run = log.span_with("otel.name", "explode");
        assert_eq!(span_of_line(&log, "about to fail"), Some(run));
        assert_eq!(span_of_line(&log, "after the panic"), None, "the run's span was left");
        let span = &log.spans()[run];
        assert_eq!(span.closed, 1);
        assert_eq!((span.entered, span.exited), (1, 1), "left before it closed");
        assert!(span.field("error").contains("disk full"), "{span:?}");
    });
}

#[traced_run(kind = "chain")]
fn outer_sync(x: u64, run: &RunManager) -> u64 {
    tracing::info!("outer before");
    let y = add(x, 1, run);
    tracing::info!("outer after");
    y
}

#[test]
fn nested_sync_runs_each_log_in_their_own_span_and_leave_it_on_return() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        assert_eq!(outer_sync(1, bridged()), 2);
        tracing::info!("after");
        let (outer, inner) = (log.span_with("otel.name", "outer_sync"), log.span_with("otel.name", "add"));
        assert_eq!(log.spans()[inner].parent, Some(outer));
        assert_eq!(span_of_line(&log, "outer before"), Some(outer));
        assert_eq!(span_of_line(&log, "adding"), Some(inner));
        assert_eq!(span_of_line(&log, "outer after"), Some(outer));
        assert_eq!(span_of_line(&log, "after"), None);
        for span in log.spans() {
            assert_eq!((span.entered, span.exited, span.closed), (1, 1, 1), "{span:?}");
        }
    });
}

/// Pending at its first poll, ready at the next: the await at which a task may move.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[traced_run(kind = "chain")]
async fn hop_threads() -> Result<u64, ToolError> {
    tracing::info!("before the await");
    YieldOnce(false).await;
    tracing::info!("after the await");
    Ok(1)
}

#[test]
fn a_log_line_after_an_await_resumed_on_another_thread_is_in_its_run_span() {
    let log = SpanLog::default();
    let dispatch = tracing::Dispatch::new(log.subscriber());
    let callbacks = bridged();
    // The first poll on this thread, the second on another: a task a work-stealing runtime
    // moved between its polls.
    let mut call = Box::pin(async move { hop_threads(&callbacks).await });
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        tracing::info!("between the polls");
    });
    let other = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
        });
    });
    other.join().expect("the second poll");

    let run = log.span_with("otel.name", "hop_threads");
    let events = log.events();
    let line = |message: &str| events.iter().find(|event| event.message == message).expect(message);
    let (before, after) = (line("before the await"), line("after the await"));
    assert_ne!(before.thread, after.thread);
    assert_eq!(before.span, Some(run));
    assert_eq!(after.span, Some(run));
    assert_eq!(line("between the polls").span, None, "the span is current only during a poll");
    let span = &log.spans()[run];
    assert_eq!((span.entered, span.exited, span.closed), (2, 2, 1), "one enter and exit a poll");
}

/// A library's instrumented call, as an HTTP client or a database driver makes.
#[tracing::instrument(name = "http.request", skip_all)]
fn http_get(url: &str) -> usize {
    tracing::info!(url, "sending");
    url.len()
}

async fn db_query(sql: &'static str) -> usize {
    use tracing::Instrument;
    async move {
        YieldOnce(false).await;
        sql.len()
    }
    .instrument(tracing::info_span!("db.query"))
    .await
}

#[traced_run(kind = "tool")]
async fn lookup(key: String) -> Result<usize, ToolError> {
    let fetched = http_get(&key);
    let stored = db_query("SELECT 1").await;
    Ok(fetched + stored)
}

#[traced_run(kind = "tool")]
fn fetch(url: String) -> usize {
    http_get(&url)
}

#[test]
fn spans_of_libraries_called_in_a_run_nest_under_its_span() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let callbacks = bridged();
        assert_eq!(fetch("https://example.com".into(), &callbacks), 19);
        assert!(futures::executor::block_on(lookup("k".into(), &callbacks)).is_ok());

        let spans = log.spans();
        let (fetch, lookup) = (log.span_with("otel.name", "fetch"), log.span_with("otel.name", "lookup"));
        let children_of = |run: usize| -> Vec<&str> {
            spans.iter().filter(|span| span.parent == Some(run)).map(|span| span.name.as_str()).collect()
        };
        assert_eq!(children_of(fetch), ["http.request"]);
        assert_eq!(children_of(lookup), ["http.request", "db.query"]);
        assert!(spans.iter().all(|span| span.closed == 1), "{spans:?}");
    });
}

/// What a chat completion returns, with its usage.
#[derive(Debug, serde::Serialize)]
struct Completion {
    text: String,
}

impl runtrace::event::ModelOutput for Completion {
    fn usage(&self) -> Option<runtrace::event::Usage> {
        Some(runtrace::event::Usage::new(12, 3))
    }

    fn response(&self) -> Option<runtrace::event::ModelResponse> {
        Some(runtrace::event::ModelResponse::new().with_model("gpt-4o-mini-2024-07-18"))
    }
}

#[traced_run(kind = "chat_model", model = "gpt-4o-mini", provider = "openai")]
async fn chat(prompt: String) -> Result<Completion, ToolError> {
    Ok(Completion { text: format!("echo: {prompt}") })
}

#[test]
fn a_model_run_span_carries_its_model_provider_and_token_usage() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let reply = futures::executor::block_on(chat("hi".into(), bridged())).expect("a reply");
        assert_eq!(reply.text, "echo: hi");
        let span = &log.spans()[log.span_with("otel.name", "chat")];
        assert_eq!(span.field("run.kind"), "chat_model");
        assert_eq!(span.field("gen_ai.request.model"), "gpt-4o-mini");
        assert_eq!(span.field("gen_ai.provider.name"), "openai");
        assert_eq!(span.field("gen_ai.response.model"), "gpt-4o-mini-2024-07-18");
        assert_eq!(span.field("gen_ai.usage.input_tokens"), "12");
        assert_eq!(span.field("gen_ai.usage.output_tokens"), "3");
        assert_eq!(span.field("gen_ai.usage.total_tokens"), "15");
    });
}

#[tracing::instrument(skip_all)]
#[traced_run(kind = "tool")]
async fn instrumented_above_async(x: u64) -> u64 {
    tracing::info!("above async body");
    x
}

#[traced_run(kind = "tool")]
#[tracing::instrument(skip_all)]
async fn instrumented_below_async(x: u64) -> u64 {
    tracing::info!("below async body");
    x
}

#[test]
fn with_async_fns_instrument_above_is_the_runs_child_and_below_its_parent() {
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        assert_eq!(futures::executor::block_on(instrumented_above_async(1, bridged())), 1);
        assert_eq!(futures::executor::block_on(instrumented_below_async(2, bridged())), 2);
        let spans = log.spans();
        let named = |name: &str| spans.iter().position(|span| span.name == name).expect(name);
        let above = log.span_with("otel.name", "instrumented_above_async");
        let below = log.span_with("otel.name", "instrumented_below_async");
        assert_eq!(spans[named("instrumented_above_async")].parent, Some(above));
        assert_eq!(span_of_line(&log, "above async body"), Some(named("instrumented_above_async")));
        assert_eq!(spans[below].parent, Some(named("instrumented_below_async")));
        assert_eq!(span_of_line(&log, "below async body"), Some(below));
    });
}

#[traced_run(kind = "llm")]
fn logged_tokens(n: u64) -> impl futures::Stream<Item = u64> {
    tracing::info!("making the stream");
    futures::StreamExt::inspect(futures::stream::iter(0..n), |_| tracing::info!("yielding"))
}

#[test]
fn a_stream_logs_inside_its_run_span_at_each_poll_and_the_caller_outside() {
    use futures::StreamExt as _;
    let log = SpanLog::default();
    tracing::subscriber::with_default(log.subscriber(), || {
        let stream = logged_tokens(2, &bridged()); // the stream outlives the caller's manager
        tracing::info!("between polls");
        assert_eq!(futures::executor::block_on(stream.count()), 2);
        let run = log.span_with("otel.name", "logged_tokens");
        let events = log.events();
        let spans_of = |message: &str| -> Vec<Option<usize>> {
            events.iter().filter(|event| event.message == message).map(|event| event.span).collect()
        };
        assert_eq!(spans_of("making the stream"), [Some(run)]);
        assert_eq!(spans_of("yielding"), [Some(run), Some(run)]);
        assert_eq!(spans_of("between polls"), [None]);
        let span = &log.spans()[run];
        assert_eq!(span.entered, span.exited, "{span:?}");
        assert_eq!(span.closed, 1, "closed once, when the stream ended: {span:?}");
    });
}
