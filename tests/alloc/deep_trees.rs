//! A run deep in a tree allocates no more than one near its root: the state of a run, and the
//! tracer's buffers, are kept per thread for trees as deep as 32 levels, where the system
//! allocator's cache of small blocks holds only a few. Counted on the test's thread.

use crate::ALLOCATOR;
use crate::tracer_memory::Discard;
use runtrace::CallbackHandler;
use runtrace::tracer::Tracer;
use runtrace::{CallbackError, CallbackManager, RunKind};

/// A chain of `levels` nested runs, each ended.
fn chain(callbacks: &CallbackManager, levels: usize) -> Result<(), CallbackError> {
    let run = callbacks.start_run(RunKind::Chain, "step", &levels)?;
    if levels > 1 {
        chain(run.children(), levels - 1)?;
    }
    run.end(&levels)
}

/// Allocations per run of `rounds` chains `levels` deep, after as many to warm up.
fn allocations_per_run(callbacks: &CallbackManager, levels: usize, rounds: usize) -> Result<f64, CallbackError> {
    for _ in 0..rounds {
        chain(callbacks, levels)?;
    }
    let before = ALLOCATOR.here().allocations;
    for _ in 0..rounds {
        chain(callbacks, levels)?;
    }
    Ok((ALLOCATOR.here().allocations - before) as f64 / (levels * rounds) as f64)
}

/// Hears every event and keeps nothing.
struct Noop;

impl CallbackHandler for Noop {}

/// Regression: each run's state was allocated and freed, and 30 live states overflowed the
/// allocator's cache, so a run 30 levels deep took its slow paths.
#[test]
fn a_run_heard_by_a_sync_handler_allocates_nothing_at_any_depth_up_to_32() -> Result<(), CallbackError> {
    let callbacks = CallbackManager::new().with_handler(Noop);
    assert_eq!(allocations_per_run(&callbacks, 3, 200)?, 0.0);
    assert_eq!(allocations_per_run(&callbacks, 30, 200)?, 0.0);
    Ok(())
}

/// Regression: a thread kept the tracer's buffers of 8 levels of its trees, the dotted orders
/// of 4, and a shard's arena room for 16 runs, so each run below allocated again.
#[test]
fn a_traced_run_deep_in_a_tree_allocates_no_more_than_one_near_its_root() -> Result<(), CallbackError> {
    let tracer = Tracer::new(Discard);
    let callbacks = CallbackManager::new().with_handler(&tracer);
    let shallow = allocations_per_run(&callbacks, 3, 200)?;
    let deep = allocations_per_run(&callbacks, 30, 200)?;
    assert!(deep <= shallow, "{deep} allocations per run 30 levels deep, {shallow} 3 levels deep");
    Ok(())
}
