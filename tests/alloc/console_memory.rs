//! The console handler's breadcrumbs take memory in proportion to the depth of the tree, not
//! its square: the counting global allocator watches the bytes live on the test's thread.

use crate::ALLOCATOR;
use runtrace::handlers::ConsoleHandler;
use runtrace::{CallbackError, CallbackManager, RunKind};

/// Regression: each run kept a copy of its whole path, so a chain `n` deep held about
/// `n² / 2` segments (4.7 GB at 20,000 deep).
#[test]
fn breadcrumbs_of_a_deep_chain_take_memory_linear_in_its_depth() -> Result<(), CallbackError> {
    const DEPTH: usize = 4_000;
    let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
    let before = ALLOCATOR.here().live;

    let mut open = vec![callbacks.start_run(RunKind::Chain, "recurse", &0)?];
    for level in 1..DEPTH {
        let run = open[level - 1].children().start_run(RunKind::Chain, "recurse", &level)?;
        open.push(run);
    }
    let per_level = (ALLOCATOR.here().live - before) / i64::try_from(DEPTH).unwrap_or(i64::MAX);
    while let Some(run) = open.pop() {
        run.end(&())?;
    }

    // A run's own state and its crumb take some hundreds of bytes; a copy of the path took
    // some 20 bytes for each run above it: 40 KB a run on average at this depth.
    assert!(per_level < 2_048, "{per_level} bytes live per level of the chain");
    Ok(())
}
