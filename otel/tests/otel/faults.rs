//! Faults of the backend: down, hanging, failing, back again. The traced program never
//! waits or panics, memory stays within the queues, drops are counted, and export resumes
//! when the backend answers again. The backend is a small OTLP/HTTP (JSON) server on
//! loopback that each test starts, stops and restarts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use runtrace_otel::OtelHandler;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

use crate::common::*;

#[derive(Clone, Copy)]
enum Answer {
    Ok,
    Status(u16),
    Never,
}

/// An OTLP/HTTP backend on loopback that counts the spans it accepted.
struct Backend {
    addr: SocketAddr,
    spans: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Backend {
    async fn start(addr: SocketAddr, answer: Answer, spans: Arc<AtomicUsize>) -> Backend {
        let listener = TcpListener::bind(addr).await.expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let counted = Arc::clone(&spans);
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let open = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let counted = Arc::clone(&counted);
                let connection = tokio::spawn(async move {
                    loop {
                        let Some(body) = read_request(&mut stream).await else { return };
                        let reply = match answer {
                            Answer::Never => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                return;
                            }
                            Answer::Ok => {
                                counted.fetch_add(body.matches("\"spanId\"").count(), Ordering::SeqCst);
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                                    .to_owned()
                            }
                            Answer::Status(code) => format!("HTTP/1.1 {code} Nope\r\ncontent-length: 0\r\n\r\n"),
                        };
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
                open.lock().unwrap().push(connection.abort_handle());
            }
        });
        Backend { addr, spans, task, connections }
    }

    /// Stops listening and drops every connection, as a backend that goes down does.
    fn stop(self) -> (SocketAddr, Arc<AtomicUsize>) {
        self.task.abort();
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
        (self.addr, self.spans)
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
                data.extend_from_slice(&buf[..n]);
            }
            return Some(String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned());
        }
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
}

fn otel_to(addr: SocketAddr, configure: impl FnOnce(Builder2) -> Builder2) -> OtelHandler {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("http://{addr}/v1/traces"))
        .with_timeout(Duration::from_millis(500))
        .build()
        .expect("an OTLP exporter");
    configure(
        OtelHandler::builder(exporter)
            .with_export_timeout(Duration::from_millis(700))
            .with_delivery_wait(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(1)),
    )
    .build()
}

type Builder2 = runtrace_otel::OtelBuilder<opentelemetry_otlp::SpanExporter>;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_recovers_when_the_backend_comes_back() {
    let backend = Backend::start(loopback(), Answer::Ok, Arc::default()).await;
    let otel = otel_to(backend.addr, |b| b);
    trace_requests(&otel.callbacks(), 5);
    otel.flush().await;
    assert_eq!(backend.spans.load(Ordering::SeqCst), 15);

    let (addr, spans) = backend.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    trace_requests(&otel.callbacks(), 5);
    otel.flush().await;
    assert!(otel.dropped_spans() > 0, "spans sent to a dead backend are counted as dropped");

    let backend = Backend::start(addr, Answer::Ok, spans).await;
    let before = backend.spans.load(Ordering::SeqCst);
    trace_requests(&otel.callbacks(), 5);
    // Within the backoff window spans wait in the queue; then they go out.
    wait_for("the spans after the restart arrived", || backend.spans.load(Ordering::SeqCst) >= before + 15).await;
    assert_eq!(otel.open_runs(), 0);
    backend.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_never_holds_up_the_traced_program() {
    let backend = Backend::start(loopback(), Answer::Never, Arc::default()).await;
    let otel = otel_to(backend.addr, |b| b.with_event_queue(64).with_max_queued_spans(32));
    let took = tokio::task::spawn_blocking({
        let otel = otel.clone();
        move || trace_requests(&otel.callbacks(), 300)
    })
    .await
    .unwrap();
    // 300 requests against exports that each hang until their timeout: a traced call that
    // waited for one would take 700 ms.
    assert!(took < Duration::from_secs(5), "the traced calls took {took:?}");
    wait_for("some spans or events were dropped", || otel.dropped_spans() + otel.dropped_events() > 0).await;
    assert!(otel.open_runs() <= 64 * 1024);
    let started = Instant::now();
    otel.shutdown(Duration::from_secs(3));
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown is bounded");
    backend.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_are_dropped_counted_and_the_program_goes_on() {
    for code in [400, 500, 503] {
        let backend = Backend::start(loopback(), Answer::Status(code), Arc::default()).await;
        let otel = otel_to(backend.addr, |b| b);
        trace_requests(&otel.callbacks(), 3);
        otel.flush().await;
        assert!(otel.dropped_spans() >= 3, "HTTP {code}: dropped {}", otel.dropped_spans());
        assert_eq!(otel.exported_spans(), 0);
        backend.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_is_down_from_the_start_costs_the_program_nothing() {
    let addr = {
        let listener = std::net::TcpListener::bind(loopback()).unwrap();
        listener.local_addr().unwrap()
    };
    let otel = otel_to(addr, |b| b);
    let took = tokio::task::spawn_blocking({
        let otel = otel.clone();
        move || trace_requests(&otel.callbacks(), 100)
    })
    .await
    .unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    otel.flush().await;
    assert_eq!(otel.exported_spans(), 0);
    assert!(otel.dropped_spans() > 0);
}
