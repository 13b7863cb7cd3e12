//! Allocations and bytes allocated per traced run, for each runtrace configuration of the
//! overhead benchmark, counted by a global allocator.
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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Noop, NoopAsync, RUNS_PER_CALL, plain, traced};
use runtrace::{CallbackManager, RecordingHandler};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialized and without a destructor, so reading it never allocates.
    static CALLER: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn count(size: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    let _ = CALLER.try_with(|caller| {
        let (allocations, bytes) = caller.get();
        caller.set((allocations + 1, bytes + size as u64));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Top-level calls measured per configuration (after as many to warm up).
const CALLS: u64 = 20_000;

struct Counts {
    all: (u64, u64),
    caller: (u64, u64),
}

fn snapshot() -> Counts {
    Counts { all: (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed)), caller: CALLER.with(Cell::get) }
}

/// Counts what `CALLS` calls of `call`, then `finish`, allocate.
fn measure(name: &str, mut call: impl FnMut() -> u64, finish: impl Fn()) {
    for _ in 0..CALLS {
        black_box(call());
    }
    finish();
    let before = snapshot();
    for _ in 0..CALLS {
        black_box(call());
    }
    finish();
    let after = snapshot();
    let runs = (CALLS * RUNS_PER_CALL) as f64;
    let per_run = |(a0, b0): (u64, u64), (a1, b1): (u64, u64)| ((a1 - a0) as f64 / runs, (b1 - b0) as f64 / runs);
    let (all_allocations, all_bytes) = per_run(before.all, after.all);
    let (caller_allocations, caller_bytes) = per_run(before.caller, after.caller);
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
