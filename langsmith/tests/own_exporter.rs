//! A program that builds its own `LangSmithExporter` with `LANGSMITH_TRACING=true`, in a
//! process of its own: the zero-code switch stands aside, so each run is sent once, by the
//! program's exporter.

#[path = "../../tests/common/zero_code_answer.rs"]
mod answer;
#[path = "langsmith/capture.rs"]
#[allow(dead_code, reason = "the fault tests use the rest")]
mod capture;

use answer::answer;

/// Regression: with `LANGSMITH_TRACING=true`, an exporter built by the program and the
/// zero-code switch's both sent every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_the_program_builds_turns_the_zero_code_export_off() {
    let capture = capture::Capture::start(None, []).await;
    // SAFETY: this binary's only test, before any thread reads the environment.
    unsafe {
        std::env::set_var("LANGSMITH_TRACING", "true");
        std::env::set_var("LANGSMITH_ENDPOINT", &capture.url);
        std::env::set_var("LANGSMITH_API_KEY", "lsv2_own");
    }
    let langsmith = runtrace_langsmith::LangSmithExporter::from_env().expect("the environment configures an exporter");
    answer("What is 2 + 2?".into(), langsmith.callbacks());
    answer("And 3 + 3?".into(), langsmith.callbacks());
    runtrace::flush().await;
    let ingests = capture.ingests();
    let sent = ingests.iter().map(capture::Request::runs).sum::<usize>();
    assert_eq!(sent, 4, "each of the 4 runs sent once ({} requests)", ingests.len());
}
