//! The zero-code switch, in a process of its own (it reads the environment once, and
//! installs its handler for the whole process): with an OTLP endpoint set, runs started
//! with no handler at all are exported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use runtrace::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

#[traced_run(kind = "chain")]
fn answer(question: String, run: &RunManager) -> String {
    format!("{question} {}", calculator("2 + 2".into(), run))
}

/// Counts the spans of OTLP/JSON requests on a loopback port.
async fn backend() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let spans = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&spans);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0_u8; 8192];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data);
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().to_owned())
                        })
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        counted.fetch_add(body.matches("\"spanId\"").count(), Ordering::SeqCst);
                        data.clear();
                        let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.write_all(ok.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, spans)
}

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
