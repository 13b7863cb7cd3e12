//! What the exporter does with each answer LangSmith may give: retries (counted), drops
//! (counted), splits, the fallback to `/runs/batch`, and that nothing of it blocks the traced
//! program, while the next good answer drains the queue.

use std::time::{Duration, Instant, SystemTime};

use runtrace::{CallbackError, CallbackManager, RunKind};
use runtrace_langsmith::{LangSmithBuilder, LangSmithExporter};
use serde_json::{Value, json};

use crate::capture::{Capture, Reply};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// An exporter to `capture`, quick to give up, so that faults play out in a test's time.
fn exporter(capture: &Capture) -> LangSmithBuilder {
    LangSmithExporter::builder()
        .with_endpoint(&capture.url)
        .with_api_key("lsv2_test")
        .with_project("faults")
        .with_timeout(Duration::from_millis(400))
        .with_backoff(Duration::from_millis(20), Duration::from_millis(80))
}

/// A chain with `children` tools: `children + 1` runs. Gives how long the traced code took.
fn answer(callbacks: &CallbackManager, children: usize) -> Result<Duration, CallbackError> {
    let started = Instant::now();
    let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    for _ in 0..children {
        chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    }
    chain.end(&"4")?;
    Ok(started.elapsed())
}

fn delivered(langsmith: &LangSmithExporter) -> Result<(), String> {
    if langsmith.flush_blocking(Duration::from_secs(20)) {
        Ok(())
    } else {
        Err(format!("not delivered: {langsmith:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_go_to_the_multipart_endpoint_with_the_key_and_runtrace_flush_waits_for_them() -> TestResult {
    let capture = Capture::start(Some(json!({ "use_multipart_endpoint": true })), []).await;
    let langsmith = exporter(&capture).build()?;
    answer(&langsmith.callbacks(), 2)?;
    runtrace::flush().await;
    let ingests = capture.ingests();
    assert_eq!(ingests.len(), 1, "sent by the time runtrace::flush() returns");
    let request = &ingests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/runs/multipart"));
    assert_eq!(request.header("x-api-key"), Some("lsv2_test"));
    assert!(request.header("content-type").is_some_and(|kind| kind.starts_with("multipart/form-data; boundary=")));
    assert_eq!(request.runs(), 3);
    assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs(), langsmith.retries()), (3, 0, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_id_goes_as_x_tenant_id_with_every_request_and_none_goes_without_one() -> TestResult {
    for workspace_id in [Some("9a7c3e1f-2b4d-4f6a-8c0e-1d3b5f7a9c2e"), None] {
        let capture = Capture::start(Some(json!({})), []).await;
        let builder = exporter(&capture);
        let langsmith = match workspace_id {
            Some(id) => builder.with_workspace_id(id),
            None => builder,
        }
        .build()?;
        answer(&CallbackManager::new().with_handler(langsmith.tracer()), 0)?;
        delivered(&langsmith)?;
        let requests = capture.requests();
        let paths: Vec<&str> = requests.iter().map(|request| request.path.as_str()).collect();
        assert_eq!(paths, ["/info", "/runs/multipart"]);
        for request in &requests {
            assert_eq!(request.header("x-tenant-id"), workspace_id, "{}", request.path);
            assert_eq!(request.header("x-api-key"), Some("lsv2_test"), "{}", request.path);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_waits_as_told_and_without_it_drops_the_batch() -> TestResult {
    let capture =
        Capture::start(None, [Reply::StatusRetryAfter(429, "0.3".into()), Reply::Status(202), Reply::Status(429)])
            .await;
    let langsmith = exporter(&capture).build()?;
    let tracer = langsmith.tracer();
    let callbacks = CallbackManager::new().with_handler(&tracer);
    let started = Instant::now();
    let took = answer(&callbacks, 0)?;
    delivered(&langsmith)?;
    assert!(started.elapsed() >= Duration::from_millis(300), "waited for Retry-After");
    assert!(took < Duration::from_millis(250), "the traced call did not wait: {took:?}");
    assert_eq!((langsmith.sent_runs(), langsmith.retries()), (1, 1));

    answer(&callbacks, 0)?;
    delivered(&langsmith)?;
    assert_eq!(
        (langsmith.dropped_runs(), langsmith.retries()),
        (1, 1),
        "429 without Retry-After: dropped, not retried"
    );
    answer(&callbacks, 0)?;
    delivered(&langsmith)?;
    assert_eq!(langsmith.sent_runs(), 2, "the next good answer takes the next tree");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_as_an_http_date_waits_until_that_date() -> TestResult {
    // A date has whole seconds: two seconds on, it is more than one second away, far past the
    // backoff the exporter takes when it does not read the date.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let until = httpdate::parse_http_date(&date)?;
    let capture = Capture::start(None, [Reply::StatusRetryAfter(503, date)]).await;
    let langsmith = exporter(&capture).build()?;
    answer(&CallbackManager::new().with_handler(langsmith.tracer()), 0)?;
    delivered(&langsmith)?;
    // The sender sleeps on the monotonic clock and the date is on the wall clock: a little
    // leeway for the two to drift apart.
    let leeway = Duration::from_millis(50);
    assert!(SystemTime::now() + leeway >= until, "the retry waited for the date, not the backoff");
    assert_eq!((langsmith.sent_runs(), langsmith.retries(), capture.ingests().len()), (1, 1, 2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_splits_the_batch_and_drops_a_single_run_too_large() -> TestResult {
    let capture = Capture::start(None, [Reply::Status(413), Reply::Status(413)]).await;
    let langsmith = exporter(&capture).build()?;
    let callbacks = CallbackManager::new().with_handler(langsmith.tracer());
    answer(&callbacks, 1)?;
    delivered(&langsmith)?;
    let runs: Vec<usize> = capture.ingests().iter().map(|request| request.runs()).collect();
    assert_eq!(runs, [2, 1, 1], "two runs refused as too large, then each alone");
    assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs()), (1, 1), "the first alone was still too large");
    let capture = Capture::start(None, [Reply::StatusRetryAfter(413, "0".into())]).await;
    let langsmith = exporter(&capture).build()?;
    answer(&CallbackManager::new().with_handler(langsmith.tracer()), 1)?;
    delivered(&langsmith)?;
    assert_eq!((langsmith.sent_runs(), langsmith.retries()), (2, 1), "413 with Retry-After: the same batch again");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_drops_the_batch_and_503s_are_retried_until_the_server_takes_them() -> TestResult {
    let capture = Capture::start(None, [Reply::Status(500), Reply::Status(503), Reply::Status(503)]).await;
    let langsmith = exporter(&capture).build()?;
    let callbacks = CallbackManager::new().with_handler(langsmith.tracer());
    answer(&callbacks, 0)?;
    delivered(&langsmith)?;
    assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs(), langsmith.retries()), (0, 1, 0));
    answer(&callbacks, 0)?;
    delivered(&langsmith)?;
    assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs(), langsmith.retries()), (1, 1, 2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_or_closes_the_connection_blocks_nothing_and_the_next_answer_drains_the_queue() -> TestResult
{
    let capture = Capture::start(None, [Reply::Hang, Reply::Close]).await;
    let langsmith = exporter(&capture).build()?;
    let callbacks = CallbackManager::new().with_handler(langsmith.tracer());
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(answer(&callbacks, 1)?);
    }
    assert!(slowest < Duration::from_millis(250), "traced calls never wait for the server: {slowest:?}");
    delivered(&langsmith)?;
    assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs(), langsmith.queued_runs()), (10, 0, 0));
    assert_eq!(langsmith.retries(), 2, "after the hang and after the closed connection");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_means_stored_already() -> TestResult {
    let capture = Capture::start(None, [Reply::Status(409)]).await;
    let langsmith = exporter(&capture).build()?;
    answer(&CallbackManager::new().with_handler(langsmith.tracer()), 0)?;
    delivered(&langsmith)?;
    assert_eq!((langsmith.sent_runs(), langsmith.conflicts(), langsmith.retries()), (1, 1, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_multipart_gets_the_batch_endpoints_json() -> TestResult {
    for (info, script) in [(None, vec![Reply::Status(404)]), (Some(json!({ "use_multipart_endpoint": false })), vec![])]
    {
        let capture = Capture::start(info, script).await;
        let langsmith = exporter(&capture).build()?;
        answer(&CallbackManager::new().with_handler(langsmith.tracer()), 1)?;
        delivered(&langsmith)?;
        let last = capture.ingests().pop().ok_or("a request")?;
        assert_eq!((last.path.as_str(), last.header("content-type")), ("/runs/batch", Some("application/json")));
        let body: Value = serde_json::from_slice(&last.body)?;
        assert_eq!(body["post"][1]["name"], "calculator");
        assert_eq!(body["post"][1]["parent_run_id"], body["post"][0]["id"]);
        assert_eq!(body["post"][0]["session_name"], "faults");
        assert_eq!(body["patch"], json!([]));
        assert_eq!(langsmith.sent_runs(), 2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_keep_within_the_servers_size_limit_and_a_full_queue_drops_whole_trees() -> TestResult {
    let capture = Capture::start(Some(json!({ "size_limit": 2, "size_limit_bytes": 1_000_000 })), []).await;
    let langsmith = exporter(&capture).build()?;
    answer(&CallbackManager::new().with_handler(langsmith.tracer()), 4)?;
    delivered(&langsmith)?;
    let runs: Vec<usize> = capture.ingests().iter().map(|request| request.runs()).collect();
    assert_eq!(runs, [2, 2, 1]);

    let small = exporter(&capture).with_max_queued_runs(2).build()?;
    answer(&CallbackManager::new().with_handler(small.tracer()), 2)?;
    assert_eq!(small.dropped_runs(), 3, "a tree of 3 runs does not fit a queue of 2: dropped whole, at once");
    Ok(())
}
