//! How much stack a level of traced recursion takes: the depth the manual promises fits in a
//! thread's default 2 MiB stack, sync and async, heard by a handler.

use std::hint::black_box;

use crate::common::recording;
use runtrace::prelude::*;

/// The depth the manual states fits a 2 MiB stack in an optimized build, sync and async.
/// An unoptimized build (`cargo test`) takes several times the stack a level, so there the
/// tests check depths that overflowed before the frames were cut and fit now.
const DEPTH: u32 = if cfg!(debug_assertions) { 2_000 } else { 10_000 };
const ASYNC_DEPTH: u32 = if cfg!(debug_assertions) { 1_200 } else { 10_000 };

/// A thread's default stack, and the one the recursion overflowed.
const STACK: usize = 2 << 20;

#[traced_run(kind = "chain")]
fn descend(levels: u32, run: &RunManager) -> u32 {
    if levels == 0 { 0 } else { black_box(descend(levels - 1, run)) + 1 }
}

#[traced_run(kind = "chain")]
async fn descend_async(levels: u32, run: &RunManager) -> u32 {
    if levels == 0 { 0 } else { black_box(Box::pin(descend_async(levels - 1, run)).await) + 1 }
}

/// Runs `f` on a thread with a 2 MiB stack; a stack overflow aborts the whole test binary.
fn on_a_2_mib_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let thread = std::thread::Builder::new().stack_size(STACK).spawn(f);
    match thread.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => panic!("cannot start a thread: {error}"),
    }
}

/// Regression: each traced level took about ten times the plain function's stack (320 bytes
/// against 32, optimized), so 10,000 levels overflowed a 2 MiB stack that the plain function
/// used a sixth of.
#[test]
fn traced_recursion_of_the_documented_depth_fits_a_2_mib_stack() {
    let (recorder, callbacks) = recording();

    let depth = on_a_2_mib_stack(move || descend(DEPTH, &callbacks));

    assert_eq!(depth, DEPTH);
    assert_eq!(recorder.runs().len(), usize::try_from(DEPTH).unwrap_or(usize::MAX) + 1);
}

#[test]
fn async_traced_recursion_of_the_documented_depth_fits_a_2_mib_stack() {
    let (recorder, callbacks) = recording();

    let depth = on_a_2_mib_stack(move || futures::executor::block_on(descend_async(ASYNC_DEPTH, &callbacks)));

    assert_eq!(depth, ASYNC_DEPTH);
    assert_eq!(recorder.runs().len(), usize::try_from(ASYNC_DEPTH).unwrap_or(usize::MAX) + 1);
}

// --- The figures of benches/README.md ------------------------------------------------------

/// The address of a local of a function called at this point: the stack's depth here.
#[inline(never)]
fn stack_here() -> usize {
    let local = 0_u8;
    std::ptr::from_ref(black_box(&local)) as usize
}

#[inline(never)]
fn plain(levels: u32) -> usize {
    if levels == 0 { stack_here() } else { black_box(plain(black_box(levels - 1))) }
}

#[traced_run]
fn traced(levels: u32, run: &RunManager) -> usize {
    if levels == 0 { stack_here() } else { black_box(traced(black_box(levels - 1), run)) }
}

#[inline(never)]
fn plain_result(levels: u32) -> Result<usize, CallbackError> {
    if levels == 0 { Ok(stack_here()) } else { Ok(black_box(plain_result(black_box(levels - 1))?)) }
}

#[traced_run]
fn traced_result(levels: u32, run: &RunManager) -> Result<usize, CallbackError> {
    if levels == 0 { Ok(stack_here()) } else { Ok(black_box(traced_result(black_box(levels - 1), run)?)) }
}

async fn plain_async(levels: u32) -> usize {
    if levels == 0 { stack_here() } else { black_box(Box::pin(plain_async(black_box(levels - 1))).await) }
}

#[traced_run]
async fn traced_async(levels: u32, run: &RunManager) -> usize {
    if levels == 0 { stack_here() } else { black_box(Box::pin(traced_async(black_box(levels - 1), run)).await) }
}

/// Prints the stack a level of recursion takes, plain and traced (heard by a recorder);
/// benches/README.md has the figures, measured with
/// `cargo test --release -p runtrace --test macros stack_per_level -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: see benches/README.md"]
fn stack_per_level() -> Result<(), CallbackError> {
    const LEVELS: u32 = 1_000;
    let (_recorder, callbacks) = recording();
    let per_level = |top: usize, bottom: usize| (top - bottom) as f64 / f64::from(LEVELS);
    let top = stack_here();
    let async_top = futures::executor::block_on(async { stack_here() });
    let rows = [
        ("sync, plain value", per_level(top, plain(LEVELS)), per_level(top, traced(LEVELS, &callbacks))),
        (
            "sync, Result<usize, CallbackError>",
            per_level(top, plain_result(LEVELS)?),
            per_level(top, traced_result(LEVELS, &callbacks)?),
        ),
        (
            "async, plain value",
            per_level(async_top, futures::executor::block_on(plain_async(LEVELS))),
            per_level(async_top, futures::executor::block_on(traced_async(LEVELS, &callbacks))),
        ),
    ];
    println!("| function | plain | traced |\n|---|---:|---:|");
    for (function, plain, traced) in rows {
        println!("| {function} | {plain:.0} bytes | {traced:.0} bytes |");
    }
    Ok(())
}
