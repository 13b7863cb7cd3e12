//! One workload of the overhead benchmark, run a given number of times, for callgrind to
//! count its instructions: the same binary and input give the same count in every session,
//! where times do not.
//!
//! ```text
//! bash benches/instructions.sh        # every workload, as a table (see the script)
//! instructions WORKLOAD CALLS         # the bench executable, by hand
//! ```
//!
//! A call is one top-level call of `outer` → `middle` → `inner`: three traced runs. Only the
//! calling thread's instructions inside [`counted`] are meant to be counted
//! (`--collect-atstart=no --toggle-collect='*instructions::counted*'`): a warm-up of
//! [`WARM_UP`] calls and the async handler's flushes, made between chunks of calls, stay
//! outside, and so does runtrace's dispatch thread.
//!
//! The OpenTelemetry workloads, `otel` and `tracing_otel`, need the facade's `otel` feature
//! (`cargo bench --bench instructions --features otel`); the script builds them apart, so
//! that the other workloads are counted without the feature's zero-code switch.

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use common::{BATCH, Noop, deep, plain, stream, traced};
use runtrace::CallbackManager;

/// Calls made before counting: lazily made state (thread-locals, the tracer's arena, the
/// dispatch thread) is in place by the time the counted calls start.
const WARM_UP: u64 = 1_000;

const WORKLOADS: &[&str] = &[
    "plain",
    "no_handlers",
    "one_handler",
    "model_usage",
    "tracer",
    "async_handler",
    "async_handler_lean",
    "depth3_one_handler",
    "depth30_one_handler",
    "depth3_tracer",
    "depth30_tracer",
    "stream_plain",
    "stream_no_handlers",
    "stream_one_handler",
    #[cfg(feature = "otel")]
    "otel",
    #[cfg(feature = "otel")]
    "tracing_otel",
];

fn main() -> ExitCode {
    // `cargo bench` and `cargo test` pass flags (`--bench`); only the two values count.
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let [workload, calls] = args.as_slice() else {
        println!("usage: instructions WORKLOAD CALLS, with WORKLOAD one of {WORKLOADS:?}; see benches/instructions.sh");
        return ExitCode::SUCCESS;
    };
    let Ok(calls) = calls.parse::<u64>() else {
        eprintln!("instructions: CALLS must be a whole number, not {calls:?}");
        return ExitCode::FAILURE;
    };
    let nothing = || {};
    match workload.as_str() {
        "plain" => measure(calls, || plain::outer(black_box(39)), nothing),
        "no_handlers" => measure(calls, || traced::outer(black_box(39), black_box(CallbackManager::none())), nothing),
        "one_handler" => {
            let callbacks = CallbackManager::new().with_handler(Noop);
            measure(calls, || traced::outer(black_box(39), black_box(&callbacks)), nothing);
        }
        // The same tree, its last run a chat model whose reply reports its usage, with a
        // usage tracker: what model data costs next to `one_handler`.
        "model_usage" => {
            let callbacks = CallbackManager::new().with_handler(runtrace::handlers::UsageTracker::new());
            measure(calls, || common::model::outer(black_box(39), black_box(&callbacks)), nothing);
        }
        "tracer" => {
            let callbacks = CallbackManager::new().with_handler(common::tracer());
            measure(calls, || traced::outer(black_box(39), black_box(&callbacks)), nothing);
        }
        // The caller's share, as `runtrace_noop_async_caller` in the overhead benchmark: the
        // queue holds a chunk's events, and the flush after each chunk is not counted.
        "async_handler" => {
            let callbacks = common::noop_async_unbounded();
            measure(calls, || traced::outer(black_box(39), black_box(&callbacks)), runtrace::flush_blocking);
        }
        // The same, the handler saying that it reads no inputs or outputs.
        "async_handler_lean" => {
            let callbacks = common::noop_async_lean_unbounded();
            measure(calls, || traced::outer(black_box(39), black_box(&callbacks)), runtrace::flush_blocking);
        }
        // A call is one chain of 3 or 30 nested runs (`common::deep`): per run, the two
        // depths should cost the same.
        "depth3_one_handler" | "depth30_one_handler" | "depth3_tracer" | "depth30_tracer" => {
            let levels = if workload.starts_with("depth30") { deep::DEEP } else { deep::SHALLOW };
            let callbacks = if workload.ends_with("tracer") {
                CallbackManager::new().with_handler(common::tracer())
            } else {
                CallbackManager::new().with_handler(Noop)
            };
            measure(calls, || deep::descend(black_box(levels), black_box(&callbacks)), nothing);
        }
        // A call drains one stream of `common::stream::ITEMS` items, traced as one run.
        "stream_plain" => measure(calls, || stream::drain(stream::plain(black_box(stream::ITEMS))), nothing),
        "stream_no_handlers" => measure(
            calls,
            || stream::drain(stream::traced(black_box(stream::ITEMS), black_box(CallbackManager::none()))),
            nothing,
        ),
        "stream_one_handler" => {
            let callbacks = CallbackManager::new().with_handler(Noop);
            measure(calls, || stream::drain(stream::traced(black_box(stream::ITEMS), black_box(&callbacks))), nothing);
        }
        #[cfg(feature = "otel")]
        "otel" => otel::runtrace(calls),
        #[cfg(feature = "otel")]
        "tracing_otel" => otel::tracing(calls),
        other => {
            eprintln!("instructions: no workload {other:?}; the workloads are {WORKLOADS:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The caller's share of exporting OpenTelemetry spans, as the `*_caller` rows of
/// `benches/otel.rs` measure it by time: the export side is flushed after each chunk, outside
/// [`counted`], with queues that hold a chunk's spans, and a count in which any span was lost
/// fails.
#[cfg(feature = "otel")]
mod otel {
    use std::cell::Cell;
    use std::hint::black_box;

    use super::{WARM_UP, measure};
    use crate::common::otel::{FLUSH, NoopExporter, otel_handler, provider, tracing_otel};
    use crate::common::{RUNS_PER_CALL, instrumented, traced};

    /// runtrace's `OtelHandler`, content capture off (the default).
    pub fn runtrace(calls: u64) {
        let exporter = NoopExporter::default();
        let otel = otel_handler(exporter.clone());
        let callbacks = otel.callbacks();
        let late = Cell::new(0_u32);
        measure(
            calls,
            || traced::outer(black_box(39), black_box(&callbacks)),
            || late.set(late.get() + u32::from(!otel.flush_blocking(FLUSH))),
        );
        assert_eq!(late.get(), 0, "a flush of the OtelHandler timed out");
        assert_eq!(otel.dropped_events() + otel.dropped_spans(), 0, "the OtelHandler's queues dropped");
        assert_eq!(exporter.spans(), (WARM_UP + calls) * RUNS_PER_CALL, "every run became an exported span");
    }

    /// `#[tracing::instrument]` under `tracing-opentelemetry` and the SDK's batch processor.
    pub fn tracing(calls: u64) {
        let exporter = NoopExporter::default();
        let provider = provider(exporter.clone());
        let _subscriber = tracing_otel(&provider);
        let failed = Cell::new(0_u32);
        measure(
            calls,
            || instrumented::outer(black_box(39)),
            || failed.set(failed.get() + u32::from(provider.force_flush().is_err())),
        );
        assert_eq!(failed.get(), 0, "a flush of the tracer provider failed");
        assert_eq!(exporter.spans(), (WARM_UP + calls) * RUNS_PER_CALL, "the batch processor dropped spans");
    }
}

/// Makes [`WARM_UP`] calls, then `calls` counted ones, in chunks of at most [`BATCH`] calls
/// with `between` after each chunk.
fn measure(calls: u64, mut call: impl FnMut() -> u64, between: impl Fn()) {
    in_chunks(
        WARM_UP,
        |n| {
            for _ in 0..n {
                black_box(call());
            }
        },
        &between,
    );
    in_chunks(calls, |n| counted(n, &mut call), &between);
}

fn in_chunks(calls: u64, mut chunk: impl FnMut(u64), between: &impl Fn()) {
    let mut left = calls;
    while left > 0 {
        let n = left.min(u64::from(BATCH));
        chunk(n);
        between();
        left -= n;
    }
}

/// The counted part: callgrind collects from entry to exit of this function (by name).
#[inline(never)]
fn counted(n: u64, call: &mut impl FnMut() -> u64) {
    for _ in 0..n {
        black_box(call());
    }
}
