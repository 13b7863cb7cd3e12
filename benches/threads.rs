//! Threads sharing one `CallbackManager` (and so one handler or tracer), without a harness:
//! each configuration runs `CALLS` top-level calls on one thread, then on two threads at
//! once (started together at a barrier), and prints each call's median time over `ROUNDS`
//! rounds and the ratio of two threads to one (target: at most 1.10). The last two rows, a
//! `TracingBridge` beside `#[instrument]` under a registry with a no-op layer, run once that
//! subscriber is the process's.
//!
//! ```text
//! cargo bench --bench threads
//! ```
//!
//! A cross-check of the `threads` group of `benches/overhead.rs`: divan's samples there are
//! short and synchronised across its threads, which this bench leaves out.
//!
//! The rows marked *own per thread* are controls: the same handler or tracer, but one per
//! thread, so that the threads share nothing of runtrace's. Their ratio is what two threads
//! cost on this machine alone (the caches and memory bandwidth the cores share, the
//! allocator); a shared row's ratio over its control's is what sharing adds.

mod common;

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::layers::NoopLayer;
use common::{Noop, instrumented, plain, traced};
use runtrace::CallbackManager;
use runtrace::handlers::TracingBridge;
use tracing_subscriber::layer::SubscriberExt;

const CALLS: u64 = 1_000_000;
const ROUNDS: usize = 7;

/// Nanoseconds per call of `call`, made `CALLS` times on each of `threads` threads started
/// together; the slowest thread's figure.
fn per_call(threads: usize, call: &(dyn Fn(u64) -> u64 + Sync)) -> f64 {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let timed: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..CALLS {
                        black_box(call(black_box(i)));
                    }
                    start.elapsed().as_nanos() as f64 / CALLS as f64
                })
            })
            .collect();
        timed.into_iter().map(|thread| thread.join().expect("a timed thread ends")).fold(0.0, f64::max)
    })
}

/// `traced::outer(x)` under this thread's own manager, made by `make` on its first call. The
/// timed threads are new each round, so each round makes its own.
fn own_per_thread(make: fn() -> CallbackManager, x: u64) -> u64 {
    thread_local! {
        static OWN: OnceCell<CallbackManager> = const { OnceCell::new() };
    }
    OWN.with(|own| traced::outer(x, own.get_or_init(make)))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let noop = CallbackManager::new().with_handler(Noop);
    let tracer = CallbackManager::new().with_handler(common::tracer());
    let configurations: [(&str, &(dyn Fn(u64) -> u64 + Sync)); 5] = [
        ("plain", &plain::outer),
        ("runtrace, one no-op sync handler", &|x| traced::outer(x, &noop)),
        ("runtrace, one no-op sync handler, own per thread", &|x| {
            own_per_thread(|| CallbackManager::new().with_handler(Noop), x)
        }),
        ("runtrace, `Tracer`", &|x| traced::outer(x, &tracer)),
        ("runtrace, `Tracer`, own per thread", &|x| {
            own_per_thread(|| CallbackManager::new().with_handler(common::tracer()), x)
        }),
    ];
    println!("| per call, {ROUNDS} rounds of {CALLS} calls | 1 thread | 2 threads | 2 / 1 |");
    println!("|---|---:|---:|---:|");
    for (name, call) in configurations {
        row(name, call);
    }
    // Last: a bridge, once made, has every traced call look for its span, and the no-op
    // layer's subscriber is the process's from here on.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(NoopLayer))
        .expect("no subscriber was set before");
    let bridged = CallbackManager::new().with_handler(Arc::new(TracingBridge::new()));
    row("runtrace, `TracingBridge`, registry + no-op layer", &|x| traced::outer(x, &bridged));
    row("tracing `#[instrument]`, registry + no-op layer", &instrumented::outer);
}

/// Prints the row of `call`: its median per call on one thread and on two, and their ratio.
fn row(name: &str, call: &(dyn Fn(u64) -> u64 + Sync)) {
    per_call(2, call); // warm-up: each thread's spare buffers and stripes in place
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        one.push(per_call(1, call));
        two.push(per_call(2, call));
    }
    let (one, two) = (median(one), median(two));
    println!("| {name} | {one:.1} ns | {two:.1} ns | {:.2} |", two / one);
}
