//! Allocations and bytes allocated per traced run, for each runtrace configuration of the
//! overhead benchmark, counted by the global allocator of the allocation tests
//! (`tests/alloc/counting.rs`).
//!
//! ```text
//! cargo bench --bench allocations
//! ```
//!
//! "All threads" counts every allocation in the process while the calls run, including
//! runtrace's dispatch thread (async handlers) and the work a configuration defers (the
//! recorder's events, freed when drained, and the final flush); "caller" counts only the
//! thread that makes the traced calls.

mod common;
#[path = "../tests/alloc/counting.rs"]
mod counting;

use std::hint::black_box;
use std::sync::Arc;

use common::{Noop, NoopAsync, RUNS_PER_CALL, plain, traced};
use counting::{Counting, Counts};
use runtrace::CallbackManager;
use runtrace::handlers::RecordingHandler;

#[global_allocator]
static GLOBAL: Counting = Counting::new();

/// Top-level calls measured per configuration (after as many to warm up).
const CALLS: u64 = 20_000;

/// What every thread and what this one, the caller, counted so far.
fn snapshot() -> (Counts, Counts) {
    (GLOBAL.everywhere(), GLOBAL.here())
}

/// Counts what `CALLS` calls of `call`, then `finish`, allocate.
fn measure(name: &str, mut call: impl FnMut() -> u64, finish: impl Fn()) {
    for _ in 0..CALLS {
        black_box(call());
    }
    finish();
    let (all_before, caller_before) = snapshot();
    for _ in 0..CALLS {
        black_box(call());
    }
    finish();
    let (all_after, caller_after) = snapshot();
    let runs = (CALLS * RUNS_PER_CALL) as f64;
    let per_run = |spent: Counts| (spent.allocations as f64 / runs, spent.bytes as f64 / runs);
    let (all_allocations, all_bytes) = per_run(all_after - all_before);
    let (caller_allocations, caller_bytes) = per_run(caller_after - caller_before);
    println!(
        "| {name:<38} | {all_allocations:>10.2} | {all_bytes:>9.1} | {caller_allocations:>10.2} | {caller_bytes:>9.1} |"
    );
}

fn main() {
    // Divan-style arguments (`--bench`, filters) are accepted and ignored.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");
    let nothing = || {};

    println!("Allocations per traced run ({CALLS} top-level calls of 3 nested runs each)\n");
    println!(
        "| {:<38} | {:>10} | {:>9} | {:>10} | {:>9} |",
        "configuration", "allocs/run", "bytes/run", "caller", "caller B"
    );
    println!("|{:-<40}|{:->12}|{:->11}|{:->12}|{:->11}|", "", ":", ":", ":", ":");

    measure("sync: plain", || plain::outer(black_box(39)), nothing);
    measure("sync: runtrace, no handlers", || traced::outer(black_box(39), CallbackManager::none()), nothing);
    let noop = CallbackManager::new().with_handler(Noop);
    measure("sync: runtrace, no-op sync handler", || traced::outer(black_box(39), &noop), nothing);
    let recorder = Arc::new(RecordingHandler::new());
    let recording = CallbackManager::new().with_handler(recorder.clone());
    measure("sync: runtrace, recording handler", || traced::outer(black_box(39), &recording), || drop(recorder.take()));
    let tracing = CallbackManager::new().with_handler(common::tracer());
    measure("sync: runtrace, tracer", || traced::outer(black_box(39), &tracing), nothing);
    let background = CallbackManager::new().with_handler(NoopAsync);
    measure(
        "sync: runtrace, no-op async handler",
        || traced::outer(black_box(39), &background),
        runtrace::flush_blocking,
    );

    let on = |future| runtime.block_on(future);
    measure("tokio: plain", || on_plain(&runtime), nothing);
    measure(
        "tokio: runtrace, no handlers",
        || on(traced::outer_async(black_box(39), CallbackManager::none())),
        nothing,
    );
    measure("tokio: runtrace, no-op sync handler", || on(traced::outer_async(black_box(39), &noop)), nothing);
    measure(
        "tokio: runtrace, recording handler",
        || on(traced::outer_async(black_box(39), &recording)),
        || drop(recorder.take()),
    );
    measure("tokio: runtrace, tracer", || on(traced::outer_async(black_box(39), &tracing)), nothing);
    measure(
        "tokio: runtrace, no-op async handler",
        || on(traced::outer_async(black_box(39), &background)),
        runtrace::flush_blocking,
    );
    println!("\n\"tokio\" rows include what `block_on` itself allocates (see \"tokio: plain\").");
}

fn on_plain(runtime: &tokio::runtime::Runtime) -> u64 {
    runtime.block_on(plain::outer_async(black_box(39)))
}
