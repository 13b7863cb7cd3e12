//! A program that builds its own `OtelHandler` with an OTLP endpoint in the environment, in
//! a process of its own: the zero-code switch stands aside, so each run is exported once,
//! by the program's handler.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "../../tests/common/zero_code_answer.rs"]
mod answer;
#[path = "zero_code/backend.rs"]
mod backend;

use answer::answer;
use backend::backend;

/// Regression: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a handler built by the program (as
/// the README's `otel` example does) and the zero-code switch's both exported every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_the_program_builds_turns_the_zero_code_export_off() {
    let (url, spans) = backend().await;
    // SAFETY: this binary's only test, before any thread reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &url);
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    }
    let otel = runtrace_otel::OtelHandler::from_env().expect("the environment configures an exporter");
    // What the `runtrace` facade's `otel` feature calls before each traced call.
    runtrace_otel::__zero_code();
    answer("What is 2 + 2?".into(), otel.callbacks());
    answer("And 3 + 3?".into(), otel.callbacks());
    runtrace::flush().await;
    otel.flush().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline, "{} of 4 spans arrived", spans.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second exporter would deliver its finished trees within its scheduled delay (1 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(spans.load(Ordering::SeqCst), 4, "each of the 4 runs exported once");
}
