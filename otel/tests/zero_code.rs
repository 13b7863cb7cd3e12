//! The zero-code switch, in a process of its own (it reads the environment once, and
//! installs its handler for the whole process): with an OTLP endpoint set, runs started
//! with no handler at all are exported.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use runtrace::prelude::*;

#[path = "../../tests/common/zero_code_answer.rs"]
mod answer;
#[path = "zero_code/backend.rs"]
mod backend;

use answer::answer;
use backend::backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_endpoint_set_every_run_is_exported_without_a_line_of_code() {
    let (url, spans) = backend().await;
    // SAFETY: this binary's only test, before any thread reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &url);
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    }
    runtrace_otel::install_from_env();
    answer("What is 2 + 2?".into(), CallbackManager::none());
    answer("And 3 + 3?".into(), CallbackManager::none());
    runtrace::flush().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline, "{} of 4 spans arrived", spans.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(spans.load(Ordering::SeqCst), 4);
}
