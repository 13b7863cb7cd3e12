//! A tracer gives back the memory of a tree once its root ends, however large the tree was:
//! the counting global allocator watches the bytes live on the test's thread. The count is per
//! thread, so tests may run in parallel.

use crate::ALLOCATOR;
use runtrace::propagation::TraceContext;
use runtrace::tracer::{ExportError, Exporter, RunCollector, RunTree, Tracer};
use runtrace::{CallbackError, CallbackManager, RunKind};

fn live_bytes() -> i64 {
    ALLOCATOR.here().live
}

/// Looks at each tree and keeps nothing of it.
struct Discard;

impl Exporter for Discard {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        std::hint::black_box(tree);
        Ok(())
    }
}

/// A map step: one chain calling a tool once per document.
fn summarize(callbacks: &CallbackManager, documents: usize) -> Result<(), CallbackError> {
    let chain = callbacks.start_run(RunKind::Chain, "summarize", &documents)?;
    for document in 0..documents {
        chain.children().start_run(RunKind::Tool, "summarize_document", &document)?.end(&"a summary")?;
    }
    chain.end(&"all summaries")
}

#[test]
fn the_counter_sees_live_bytes() {
    let before = live_bytes();
    let buffer = std::hint::black_box(vec![1u8; 4096]);
    assert!(live_bytes() - before >= 4096, "the allocator counts, so a small difference below means something");
    drop(buffer);
}

/// Regression: the tracer's arena kept its peak, every run of the largest tree it ever held
/// (51 MB after one root with 100,000 children), for the tracer's lifetime.
#[test]
fn a_wide_tree_leaves_no_memory_behind_once_its_root_ends() -> Result<(), CallbackError> {
    let tracer = Tracer::new(Discard);
    let callbacks = CallbackManager::new().with_handler(&tracer);
    // A tree of the same shape first, so the buffers the tracer reuses for the next trees of
    // this thread (a bounded few) are counted in the baseline.
    summarize(&callbacks, 100)?;
    let before = live_bytes();

    summarize(&callbacks, 10_000)?;

    let left = live_bytes() - before;
    assert_eq!(tracer.open_runs(), 0);
    // Not zero: the shard the tree went to (one of 16, by its trace id) keeps room for a few
    // runs, some 8 KB, if the first tree went to another. Without giving memory back, the
    // 10,000 runs' slots would stay: some 7 MB.
    assert!(left < 32 * 1024, "{left} bytes are still live after the tree was exported");
    Ok(())
}

/// A busy server's shards are rarely empty: the memory of a wide tree must come back while
/// other trees of its shard are open, and those trees must still come out whole.
#[test]
fn a_wide_tree_leaves_no_memory_behind_while_other_trees_stay_open() -> Result<(), Box<dyn std::error::Error>> {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let callbacks = CallbackManager::new().with_handler(&tracer);
    // Requests half done, four to a shard on average, so the wide tree's shard has some.
    let requests = (0..64)
        .map(|request| {
            let root = callbacks.start_run(RunKind::Chain, "request", &request)?;
            let lookup = root.children().start_run(RunKind::Tool, "lookup", &request)?;
            Ok((root, lookup))
        })
        .collect::<Result<Vec<_>, CallbackError>>()?;
    // As above, and after the requests took the buffers there were.
    summarize(&callbacks, 100)?;
    drop(collector.take());
    let before = live_bytes();

    summarize(&callbacks, 10_000)?;
    drop(collector.take());

    let left = live_bytes() - before;
    assert!(left < 32 * 1024, "{left} bytes are still live after the tree was exported");
    for (root, lookup) in requests {
        lookup.on_text("cache miss")?;
        lookup.children().start_run(RunKind::Retriever, "search", &())?.end(&["a document"])?;
        lookup.end(&"found")?;
        root.end(&"answered")?;
    }
    let trees = collector.take();
    assert_eq!((trees.len(), tracer.open_runs()), (64, 0));
    for root in &trees {
        let lookup = &root.child_runs[0];
        assert_eq!(
            (root.child_runs.len(), lookup.name.as_str(), lookup.inputs["input"].clone()),
            (1, "lookup", root.inputs["input"].clone())
        );
        assert_eq!(
            (lookup.events.len(), lookup.child_runs.len(), lookup.child_runs[0].name.as_str()),
            (1, 1, "search")
        );
        for run in root.runs() {
            let context = TraceContext::from_dotted_order(&run.dotted_order)?;
            assert_eq!(
                (context.run_id(), context.parent_run_id(), context.trace_id()),
                (run.id, run.parent_run_id, root.id)
            );
            assert!(run.end_time.is_some());
        }
    }
    Ok(())
}
