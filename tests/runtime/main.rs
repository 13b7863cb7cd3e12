//! The runtime through the facade: one module per concern, in one test binary so that it is
//! linked once.
//!
//! Process-wide state stays safe to share: `RUNTRACE_TRACE` is only ever set for a child
//! process (see `tracer::env_opt_in_traces_root_runs_to_the_named_file`), runtrace's warnings
//! are collected by subscribers scoped to one thread, and `runtrace::flush` waits for every
//! test's async handlers, which only makes it wait longer.

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "a part of it serves only the macro tests")]
mod common;
#[path = "../common/sdk.rs"]
mod sdk;

mod background;
mod background_flush;
mod console;
mod custom_events;
mod deep_trees;
mod event_stream;
mod faults;
mod fuzz;
mod headers;
mod ignore;
mod langsmith_sdk;
mod ordering;
mod run_ids;
mod scoping;
mod server;
mod stress;
mod tracer;
mod tracer_exports;
mod tracing_bridge;
mod websocket;

/// Asserts that `seen`, one line per event heard, holds every line of `expected` and, for
/// each worker `i`, exactly its lines (those starting `worker-{i} `) in the order it emitted
/// them, however the workers' lines interleave.
fn assert_each_worker_in_order(seen: &[String], expected: &[Vec<String>]) {
    assert_eq!(seen.len(), expected.iter().map(Vec::len).sum::<usize>());
    for (worker, expected) in expected.iter().enumerate() {
        let prefix = format!("worker-{worker} ");
        let own: Vec<&String> = seen.iter().filter(|line| line.starts_with(&prefix)).collect();
        assert_eq!(own, expected.iter().collect::<Vec<_>>(), "events of worker {worker}");
    }
}
