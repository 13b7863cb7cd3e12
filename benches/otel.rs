//! OpenTelemetry export, beside `tracing` + `tracing-opentelemetry`, in one run: the same
//! three nested runs (spans) per call as `benches/overhead.rs`, each exported as a span to
//! the same no-op exporter.
//!
//! - `*_caller`: what the traced code pays. The export side is flushed before each sample,
//!   outside the timing, with queues that hold a whole sample.
//! - `*_flush`: everything, the export included: a flush once every 256 calls.
//!
//! ```text
//! cargo bench --bench otel --features otel | tee otel.txt
//! python3 benches/table.py otel.txt
//! ```

mod common;

use std::hint::black_box;

use common::otel::{FLUSH, NoopExporter, otel_handler, provider, tracing_otel};
use common::{BATCH, instrumented, plain, traced};
use divan::Bencher;

fn main() {
    divan::main();
}

fn x() -> u64 {
    black_box(39)
}

#[divan::bench_group(sample_size = BATCH, sample_count = 200)]
mod sync {
    use super::*;

    #[divan::bench]
    fn plain() -> u64 {
        plain::outer(x())
    }

    #[divan::bench]
    fn runtrace_otel_caller(bencher: Bencher) {
        let otel = otel_handler(NoopExporter::default());
        let callbacks = otel.callbacks();
        bencher
            .with_inputs(|| {
                otel.flush_blocking(FLUSH);
            })
            .bench_local_values(|()| traced::outer(x(), black_box(&callbacks)));
        assert_eq!(otel.dropped_events() + otel.dropped_spans(), 0, "the queues held every sample");
    }

    /// The floor: what any async handler's events cost the traced call.
    #[divan::bench]
    fn runtrace_noop_async_caller(bencher: Bencher) {
        let callbacks = common::noop_async_unbounded();
        bencher
            .with_inputs(runtrace::flush_blocking)
            .bench_local_values(|()| traced::outer(x(), black_box(&callbacks)));
    }

    #[divan::bench]
    fn runtrace_otel_flush(bencher: Bencher) {
        let otel = otel_handler(NoopExporter::default());
        let callbacks = otel.callbacks();
        let mut calls = 0_u32;
        bencher.bench_local(|| {
            let out = traced::outer(x(), black_box(&callbacks));
            calls += 1;
            if calls % BATCH == 0 {
                otel.flush_blocking(FLUSH);
            }
            out
        });
    }

    #[divan::bench]
    fn tracing_opentelemetry_caller(bencher: Bencher) {
        let provider = provider(NoopExporter::default());
        let _subscriber = tracing_otel(&provider);
        bencher
            .with_inputs(|| {
                let _ = provider.force_flush();
            })
            .bench_local_values(|()| instrumented::outer(x()));
    }

    #[divan::bench]
    fn tracing_opentelemetry_flush(bencher: Bencher) {
        let provider = provider(NoopExporter::default());
        let _subscriber = tracing_otel(&provider);
        let mut calls = 0_u32;
        bencher.bench_local(|| {
            let out = instrumented::outer(x());
            calls += 1;
            if calls % BATCH == 0 {
                let _ = provider.force_flush();
            }
            out
        });
    }
}
