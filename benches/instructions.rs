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

mod common;

use std::hint::black_box;
use std::process::ExitCode;

use common::{BATCH, Noop, plain, traced};
use runtrace::CallbackManager;

/// Calls made before counting: lazily made state (thread-locals, the tracer's arena, the
/// dispatch thread) is in place by the time the counted calls start.
const WARM_UP: u64 = 1_000;

const WORKLOADS: [&str; 6] = ["plain", "no_handlers", "one_handler", "model_usage", "tracer", "async_handler"];

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
        other => {
            eprintln!("instructions: no workload {other:?}; the workloads are {WORKLOADS:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
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
