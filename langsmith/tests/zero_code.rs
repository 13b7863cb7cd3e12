//! The zero-code switch, in a process of its own (it reads the environment once, and
//! installs its exporter for the whole process): with `LANGSMITH_TRACING=true`, runs started
//! with no handler at all are sent, in the project `LANGSMITH_PROJECT` names, to the workspace
//! `LANGSMITH_WORKSPACE_ID` names, and `runtrace::flush()` waits until they were.

#[path = "langsmith/capture.rs"]
#[allow(dead_code, reason = "the fault tests use the rest")]
mod capture;

#[path = "../../tests/common/zero_code_answer.rs"]
mod answer;

use answer::answer;
use runtrace::CallbackManager;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_langsmith_tracing_on_every_run_is_sent_without_a_line_of_code() {
    let capture = capture::Capture::start(None, []).await;
    // SAFETY: this binary's only test, before any thread reads the environment.
    unsafe {
        std::env::set_var("LANGSMITH_TRACING", "true");
        std::env::set_var("LANGSMITH_ENDPOINT", &capture.url);
        std::env::set_var("LANGSMITH_API_KEY", "lsv2_zero_code");
        std::env::set_var("LANGCHAIN_PROJECT", "older-name");
        std::env::set_var("LANGSMITH_PROJECT", "zero-code");
        std::env::set_var("LANGCHAIN_WORKSPACE_ID", "older-name");
        std::env::set_var("LANGSMITH_WORKSPACE_ID", "9a7c3e1f-2b4d-4f6a-8c0e-1d3b5f7a9c2e");
    }
    answer("What is 2 + 2?".into(), CallbackManager::none());
    answer("And 3 + 3?".into(), CallbackManager::none());
    runtrace::flush().await;
    let ingests = capture.ingests();
    assert_eq!(ingests.iter().map(capture::Request::runs).sum::<usize>(), 4, "{ingests:?}");
    assert!(ingests.iter().all(|request| request.header("x-api-key") == Some("lsv2_zero_code")));
    assert!(
        ingests.iter().all(|request| request.header("x-tenant-id") == Some("9a7c3e1f-2b4d-4f6a-8c0e-1d3b5f7a9c2e")),
        "LANGSMITH_WORKSPACE_ID, sent as X-Tenant-Id, wins over LANGCHAIN_WORKSPACE_ID: {:?}",
        ingests.iter().map(|request| &request.headers).collect::<Vec<_>>()
    );
    let body = String::from_utf8_lossy(&ingests[0].body).into_owned();
    let main = body.split("\r\n\r\n").nth(1).and_then(|rest| rest.split("\r\n").next()).unwrap_or_default();
    let run: Value = serde_json::from_str(main).unwrap_or_default();
    assert_eq!(run["session_name"], "zero-code", "LANGSMITH_PROJECT wins over LANGCHAIN_PROJECT: {main}");
}
