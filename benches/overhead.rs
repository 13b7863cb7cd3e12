//! Overhead of a traced run, beside its peers, in one run.
//!
//! Each benchmark times one top-level call of `outer` → `middle` → `inner` (three traced runs,
//! or spans), in sync code and in async code on a tokio current-thread runtime. Compare each
//! with `plain` of its group: `(median - plain) / 3` is the cost per run.
//!
//! ```text
//! cargo bench --bench overhead | tee overhead.txt
//! python3 benches/table.py overhead.txt   # medians, ratios and cost per run, as a table
//! ```

mod common;

use std::hint::black_box;
use std::sync::Arc;

use common::layers::{NoopLayer, StoringLayer};
use common::{BATCH, Noop, NoopAsync, fastraced, instrumented, plain, traced};
use divan::Bencher;
use runtrace::CallbackManager;
use runtrace::handlers::{RecordingHandler, TracingBridge};
use tracing_subscriber::layer::SubscriberExt;

fn main() {
    divan::main();
}

/// Calls `call` with a counter, and `every_batch` after each [`BATCH`] calls, so a benchmark
/// whose samples are `BATCH` calls long pays exactly one `every_batch` per sample.
fn batched<O>(bencher: Bencher, mut call: impl FnMut() -> O, every_batch: impl Fn()) {
    let mut calls = 0_u32;
    bencher.bench_local(|| {
        let out = call();
        calls += 1;
        if calls % BATCH == 0 {
            every_batch();
        }
        out
    });
}

fn x() -> u64 {
    black_box(39)
}

/// Sync code.
#[divan::bench_group(sample_size = 1024, sample_count = 300)]
mod sync {
    use super::*;

    #[divan::bench]
    fn plain() -> u64 {
        plain::outer(x())
    }

    #[divan::bench]
    fn runtrace_none() -> u64 {
        traced::outer(x(), black_box(CallbackManager::none()))
    }

    #[divan::bench]
    fn runtrace_noop_sync(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(Noop);
        bencher.bench_local(|| traced::outer(x(), black_box(&callbacks)));
    }

    /// The recorder is drained once per batch: holding every event forever would time the
    /// allocator's growth, not the run.
    #[divan::bench(sample_size = BATCH)]
    fn runtrace_recording(bencher: Bencher) {
        let recorder = Arc::new(RecordingHandler::new());
        let callbacks = CallbackManager::new().with_handler(recorder.clone());
        batched(bencher, || traced::outer(x(), black_box(&callbacks)), || drop(recorder.take()));
    }

    #[divan::bench]
    fn runtrace_tracer(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(common::tracer());
        bencher.bench_local(|| traced::outer(x(), black_box(&callbacks)));
    }

    /// The same tree, its last run a chat model whose reply reports its usage, heard by a
    /// usage tracker: next to `runtrace_noop_sync`, what model data costs.
    #[divan::bench]
    fn runtrace_model_usage_tracker(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(runtrace::handlers::UsageTracker::new());
        bencher.bench_local(|| common::model::outer(x(), black_box(&callbacks)));
    }

    /// Includes the flush, once per batch of calls.
    #[divan::bench(sample_size = BATCH)]
    fn runtrace_noop_async(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(NoopAsync);
        batched(bencher, || traced::outer(x(), black_box(&callbacks)), runtrace::flush_blocking);
    }

    /// The traced call's own share: handing the events over. The handler's side, the flush,
    /// runs before each sample, outside the timing, and the queue holds a whole sample's
    /// events, so no call waits for the handler.
    #[divan::bench(sample_size = BATCH)]
    fn runtrace_noop_async_caller(bencher: Bencher) {
        let callbacks = common::noop_async_unbounded();
        bencher
            .with_inputs(runtrace::flush_blocking)
            .bench_local_values(|()| traced::outer(x(), black_box(&callbacks)));
    }

    /// The same, the handler saying that it reads no inputs or outputs (`Ignore::PAYLOADS`).
    #[divan::bench(sample_size = BATCH)]
    fn runtrace_noop_async_lean_caller(bencher: Bencher) {
        let callbacks = common::noop_async_lean_unbounded();
        bencher
            .with_inputs(runtrace::flush_blocking)
            .bench_local_values(|()| traced::outer(x(), black_box(&callbacks)));
    }

    /// Against `tracing_noop_layer`: the bridge's spans for the runs, under the same layer.
    #[divan::bench]
    fn runtrace_tracing_bridge(bencher: Bencher) {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(NoopLayer));
        let callbacks = CallbackManager::new().with_handler(Arc::new(TracingBridge::new()));
        bencher.bench_local(|| traced::outer(x(), black_box(&callbacks)));
    }

    #[divan::bench]
    fn tracing_none() -> u64 {
        instrumented::outer(x())
    }

    #[divan::bench]
    fn tracing_noop_layer(bencher: Bencher) {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(NoopLayer));
        bencher.bench_local(|| instrumented::outer(x()));
    }

    #[divan::bench(sample_size = BATCH)]
    fn tracing_storing_layer(bencher: Bencher) {
        let layer = StoringLayer::default();
        let finished = Arc::clone(&layer.finished);
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        batched(bencher, || instrumented::outer(x()), || drop(std::mem::take(&mut *finished.lock().unwrap())));
    }

    #[divan::bench]
    fn fastrace_none() -> u64 {
        fastraced::outer(x())
    }

    #[divan::bench]
    fn fastrace_discard(bencher: Bencher) {
        common::install_discard_reporter();
        bencher.bench_local(|| common::fastrace_rooted(x()));
    }
}

/// Async code, each top-level call a `block_on` of a tokio current-thread runtime.
#[divan::bench_group(sample_size = 1024, sample_count = 300)]
mod tokio_current_thread {
    use std::future::Future;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
    }

    fn bench_async<F: Future>(bencher: Bencher, call: impl Fn() -> F) {
        let runtime = runtime();
        bencher.bench_local(|| runtime.block_on(call()));
    }

    #[divan::bench]
    fn plain(bencher: Bencher) {
        bench_async(bencher, || plain::outer_async(x()));
    }

    #[divan::bench]
    fn runtrace_none(bencher: Bencher) {
        bench_async(bencher, || traced::outer_async(x(), black_box(CallbackManager::none())));
    }

    #[divan::bench]
    fn runtrace_noop_sync(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(Noop);
        bench_async(bencher, || traced::outer_async(x(), black_box(&callbacks)));
    }

    #[divan::bench(sample_size = BATCH)]
    fn runtrace_recording(bencher: Bencher) {
        let runtime = runtime();
        let recorder = Arc::new(RecordingHandler::new());
        let callbacks = CallbackManager::new().with_handler(recorder.clone());
        batched(
            bencher,
            || runtime.block_on(traced::outer_async(x(), black_box(&callbacks))),
            || drop(recorder.take()),
        );
    }

    #[divan::bench]
    fn runtrace_tracer(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(common::tracer());
        bench_async(bencher, || traced::outer_async(x(), black_box(&callbacks)));
    }

    #[divan::bench(sample_size = BATCH)]
    fn runtrace_noop_async(bencher: Bencher) {
        let runtime = runtime();
        let callbacks = CallbackManager::new().with_handler(NoopAsync);
        batched(
            bencher,
            || runtime.block_on(traced::outer_async(x(), black_box(&callbacks))),
            runtrace::flush_blocking,
        );
    }

    /// As in the sync group: the flush before each sample, outside the timing.
    #[divan::bench(sample_size = BATCH)]
    fn runtrace_noop_async_caller(bencher: Bencher) {
        let runtime = runtime();
        let callbacks = common::noop_async_unbounded();
        bencher
            .with_inputs(runtrace::flush_blocking)
            .bench_local_values(|()| runtime.block_on(traced::outer_async(x(), black_box(&callbacks))));
    }

    /// Against `tracing_noop_layer`: the bridge's spans for the runs, under the same layer.
    #[divan::bench]
    fn runtrace_tracing_bridge(bencher: Bencher) {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(NoopLayer));
        let callbacks = CallbackManager::new().with_handler(Arc::new(TracingBridge::new()));
        bench_async(bencher, || traced::outer_async(x(), black_box(&callbacks)));
    }

    #[divan::bench]
    fn tracing_none(bencher: Bencher) {
        bench_async(bencher, || instrumented::outer_async(x()));
    }

    #[divan::bench]
    fn tracing_noop_layer(bencher: Bencher) {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(NoopLayer));
        bench_async(bencher, || instrumented::outer_async(x()));
    }

    #[divan::bench(sample_size = BATCH)]
    fn tracing_storing_layer(bencher: Bencher) {
        let runtime = runtime();
        let layer = StoringLayer::default();
        let finished = Arc::clone(&layer.finished);
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        batched(
            bencher,
            || runtime.block_on(instrumented::outer_async(x())),
            || drop(std::mem::take(&mut *finished.lock().unwrap())),
        );
    }

    #[divan::bench]
    fn fastrace_none(bencher: Bencher) {
        bench_async(bencher, || fastraced::outer_async(x()));
    }

    #[divan::bench]
    fn fastrace_discard(bencher: Bencher) {
        common::install_discard_reporter();
        bench_async(bencher, || common::fastrace_rooted_async(x()));
    }
}

/// A stream of 100 items, drained by polling it with a no-op waker: `plain` is the untraced
/// stream, the others one traced run around it (`(median - plain) / 100` is the cost per
/// item, with the run's start and end spread over its items).
#[divan::bench_group(sample_size = 256, sample_count = 300)]
mod stream_100 {
    use super::*;
    use common::Noop;
    use common::stream::{ITEMS, drain, traced};

    #[divan::bench]
    fn plain() -> u64 {
        drain(common::stream::plain(black_box(ITEMS)))
    }

    #[divan::bench]
    fn runtrace_none() -> u64 {
        drain(traced(black_box(ITEMS), black_box(CallbackManager::none())))
    }

    #[divan::bench]
    fn runtrace_noop(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(Noop);
        bencher.bench_local(|| drain(traced(black_box(ITEMS), black_box(&callbacks))));
    }
}

/// A chain of nested runs, 3 and 30 levels deep: divide each median by its depth for the
/// cost per run, which should not grow with depth.
#[divan::bench_group(sample_size = 256, sample_count = 300)]
mod depth {
    use super::*;
    use common::Noop;
    use common::deep::{DEEP, SHALLOW, descend};

    #[divan::bench(args = [SHALLOW, DEEP])]
    fn runtrace_noop_sync(bencher: Bencher, levels: u64) {
        let callbacks = CallbackManager::new().with_handler(Noop);
        bencher.bench_local(|| descend(black_box(levels), black_box(&callbacks)));
    }

    #[divan::bench(args = [SHALLOW, DEEP])]
    fn runtrace_tracer(bencher: Bencher, levels: u64) {
        let callbacks = CallbackManager::new().with_handler(common::tracer());
        bencher.bench_local(|| descend(black_box(levels), black_box(&callbacks)));
    }
}

/// The sync workload on 1 and 2 threads at once, sharing one `CallbackManager` (and so one
/// handler or tracer): a call's median on 2 threads should be that on 1.
#[divan::bench_group(sample_size = 1024, sample_count = 300, threads = [1, 2])]
mod threads {
    use super::*;
    use common::Noop;

    #[divan::bench]
    fn plain() -> u64 {
        plain::outer(x())
    }

    #[divan::bench]
    fn runtrace_noop_sync(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(Noop);
        bencher.bench(|| traced::outer(x(), black_box(&callbacks)));
    }

    #[divan::bench]
    fn runtrace_tracer(bencher: Bencher) {
        let callbacks = CallbackManager::new().with_handler(common::tracer());
        bencher.bench(|| traced::outer(x(), black_box(&callbacks)));
    }

    #[divan::bench]
    fn fastrace_discard(bencher: Bencher) {
        common::install_discard_reporter();
        bencher.bench(|| common::fastrace_rooted(x()));
    }
}
