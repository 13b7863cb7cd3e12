//! A real Arize Phoenix killed and started again while a program traces: the traced calls go
//! on unhindered while it is down, the spans they make then are counted as dropped, and the
//! spans traced once it is back arrive. `faults.rs` checks the same against a loopback fake;
//! this checks it against Phoenix's own HTTP server and the exporter's real connections.
//!
//! The test starts its own Phoenix (on ports 6016 and 4327, beside the one `phoenix.rs`
//! uses), so it needs the `phoenix` command: `.ci/run` sets `RUNTRACE_PHOENIX_BIN` and runs
//! it with `--ignored phoenix`, and there it fails when the command is missing. By hand:
//!
//! ```sh
//! RUNTRACE_PHOENIX_BIN=.venv/bin/phoenix cargo test -p runtrace-otel --test otel -- --ignored phoenix_restart
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use runtrace::RunId;
use runtrace::handlers::RecordingHandler;
use runtrace_otel::{OtelHandler, span_id_of};

use crate::common::trace_requests;
use crate::phoenix::spans_of;

const BIN_ENV: &str = "RUNTRACE_PHOENIX_BIN";
const HTTP_PORT: u16 = 6016;
const GRPC_PORT: u16 = 4327;

/// A Phoenix server of this test's own, killed when dropped.
struct Phoenix {
    child: Child,
    log: PathBuf,
}

impl Phoenix {
    /// Starts `phoenix serve` on loopback with its data in `dir`, and waits until it answers.
    async fn start(bin: &Path, dir: &Path, client: &reqwest::Client, url: &str) -> Phoenix {
        let log = dir.join(format!("phoenix-{}.log", RunId::random()));
        let output = File::create(&log).expect("a log file for Phoenix");
        let errors = output.try_clone().expect("the log file, twice");
        let child = Command::new(bin)
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", HTTP_PORT.to_string())
            .env("PHOENIX_GRPC_PORT", GRPC_PORT.to_string())
            .env("PHOENIX_WORKING_DIR", dir)
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("DO_NOT_TRACK", "1")
            .stdout(output)
            .stderr(errors)
            .spawn()
            .unwrap_or_else(|error| panic!("{BIN_ENV}={} does not start: {error}", bin.display()));
        let mut phoenix = Phoenix { child, log };
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let health = client.get(format!("{url}/healthz")).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return phoenix;
            }
            let exited = phoenix.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&phoenix.log).unwrap_or_default();
                panic!("Phoenix did not start ({exited:?}):\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Traces `n` quickstart requests, each run heard by `recorder` too; how long they took.
fn trace_recorded(otel: &OtelHandler, recorder: &Arc<RecordingHandler>, n: usize) -> Duration {
    trace_requests(&otel.callbacks().with_handler(recorder.clone()), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts Arize Phoenix from RUNTRACE_PHOENIX_BIN: .ci/run sets it and runs this"]
async fn phoenix_restarted_while_a_program_traces_gets_the_spans_traced_once_it_is_back() {
    let bin = match std::env::var_os(BIN_ENV) {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => panic!("{BIN_ENV} names no `phoenix` command: install arize-phoenix (see this file's header) and set it"),
    };
    let dir = std::env::temp_dir().join(format!("runtrace-phoenix-restart-{}", RunId::random()));
    std::fs::create_dir_all(&dir).expect("a working folder for Phoenix");
    let url = format!("http://127.0.0.1:{HTTP_PORT}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");

    let phoenix = Phoenix::start(&bin, &dir, &client, &url).await;
    let project = format!("runtrace-restart-{}", RunId::random());
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/traces"))
        .with_timeout(Duration::from_secs(2))
        .build()
        .expect("an OTLP/HTTP exporter");
    let otel = OtelHandler::builder(exporter)
        .with_project(&project)
        .with_export_timeout(Duration::from_secs(3))
        .with_delivery_wait(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(1))
        .build();

    let before = Arc::new(RecordingHandler::new());
    trace_recorded(&otel, &before, 3);
    otel.flush().await;
    let runs_before = before.runs().len();
    assert_eq!(spans_of(&client, &url, &project, runs_before).await.len(), runs_before, "Phoenix has the first spans");

    // Killed, as a crash would stop it: its connections are gone at once.
    drop(phoenix);
    let down = Arc::new(RecordingHandler::new());
    let took = trace_recorded(&otel, &down, 3);
    assert!(took < Duration::from_secs(2), "the traced calls do not wait for a backend that is down ({took:?})");
    otel.flush().await;
    assert!(otel.dropped_spans() > 0, "the spans sent while Phoenix was down are counted as dropped");

    let phoenix = Phoenix::start(&bin, &dir, &client, &url).await;
    let after = Arc::new(RecordingHandler::new());
    trace_recorded(&otel, &after, 3);
    otel.flush().await;
    let expected = runs_before + after.runs().len();
    let spans = spans_of(&client, &url, &project, expected).await;
    let span_ids: Vec<&str> = spans.iter().filter_map(|span| span["context"]["span_id"].as_str()).collect();
    for run in after.runs() {
        let span_id = span_id_of(run.run_id).to_string();
        assert!(
            span_ids.contains(&span_id.as_str()),
            "{} ({}), traced after the restart, is in Phoenix",
            run.name,
            run.run_id
        );
    }
    assert_eq!(otel.open_runs(), 0);
    drop(phoenix);
    let _ = std::fs::remove_dir_all(&dir);
}
