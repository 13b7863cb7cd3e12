//! What the tracer exports, when, and where to: the finished children of a long-lived root
//! as trees of their own, runs under a remote parent never stitched into a local tree, an
//! exporter that calls traced code, and a JSON Lines file rotated under a running program.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use runtrace::propagation::TraceContext;
use runtrace::tracer::{ExportError, Exporter, RunCollector, RunTree, Tracer, collect_runs};
use runtrace::{CallbackError, CallbackManager, RunKind};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn temp_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("runtrace-test-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

// --- Long-lived roots ------------------------------------------------------------------------

/// One request the server handles: a chain calling a tool.
fn handle(server: &CallbackManager, request: usize) -> Result<(), CallbackError> {
    let chain = server.start_run(RunKind::Chain, "request", &json!({ "request": request }))?;
    chain.children().start_run(RunKind::Tool, "lookup", &request)?.end(&"found")?;
    chain.end(&"200 OK")
}

/// Regression: a root open for the life of a process (a server's main loop) kept every run
/// below it until it ended. Past the bound, its finished children leave as trees of their
/// own, linked to it by `parent_run_id` and dotted order; its unfinished ones stay.
#[test]
fn finished_children_of_a_long_lived_root_are_exported_as_trees_of_their_own_and_link_back() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone()).with_max_finished_children(10);
    let main_loop = CallbackManager::new().with_handler(&tracer).start_run(RunKind::Chain, "serve", &())?;
    let server = main_loop.children();
    let slow = server.start_run(RunKind::Chain, "request", &json!({ "request": "slow" }))?;
    for request in 0..25 {
        handle(server, request)?;
    }
    let given_up = collector.take();
    assert_eq!(given_up.len(), 22, "twice, once 11 finished requests were held");
    assert_eq!(tracer.open_runs(), 2, "the loop and the slow request stay");

    slow.children().start_run(RunKind::Tool, "lookup", &"slow")?.end(&"found")?;
    slow.end(&"200 OK")?;
    main_loop.end(&())?;
    let last = collector.take();
    assert_eq!(last.len(), 1);
    let root = &last[0];
    let kept: Vec<_> = root.child_runs.iter().map(|request| request.inputs["request"].clone()).collect();
    assert_eq!(kept, [json!("slow"), json!(22), json!(23), json!(24)], "in start order");

    let mut seen = HashSet::new();
    for (index, request) in given_up.iter().enumerate() {
        assert_eq!(request.inputs["request"], index, "exported in start order");
        assert_eq!((request.parent_run_id, request.trace_id), (Some(root.id), root.id));
        assert!(request.dotted_order.starts_with(&format!("{}.", root.dotted_order)));
        let context = TraceContext::from_dotted_order(&request.dotted_order)?;
        assert_eq!((context.run_id(), context.parent_run_id()), (request.id, Some(root.id)));
        assert_eq!(request.child_runs[0].parent_run_id, Some(request.id));
        assert!(request.child_runs[0].dotted_order.starts_with(&request.dotted_order));
        assert!(seen.insert(request.id));
    }
    Ok(())
}

// --- Remote parents --------------------------------------------------------------------------

/// Regression: a `langsmith-trace` header naming a run open in this process attached the
/// remote request's runs inside that local tree, exporting one tenant's request inside
/// another tenant's tree.
#[test]
fn a_trace_header_naming_a_run_open_here_does_not_stitch_the_remote_runs_into_its_tree() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let tenant_a = CallbackManager::new().with_handler(&tracer).start_run(RunKind::Chain, "tenant_a_job", &())?;
    let header = TraceContext::from_run(&tenant_a)?.to_headers();

    // Another tenant's request arrives naming tenant A's open run as its parent.
    let remote = TraceContext::from_headers(header)?;
    let request = CallbackManager::from(&remote).with_handler(&tracer).start_run(RunKind::Chain, "tenant_b", &())?;
    request.children().start_run(RunKind::Tool, "lookup", &())?.end(&"found")?;
    request.end(&"done")?;
    let remote_tree = collector.take().remove(0);
    tenant_a.end(&())?;
    let local_tree = collector.take().remove(0);

    assert_eq!((local_tree.name.as_str(), local_tree.child_runs.len()), ("tenant_a_job", 0));
    assert_eq!(remote_tree.name, "tenant_b");
    assert_eq!((remote_tree.parent_run_id, remote_tree.trace_id), (Some(local_tree.id), local_tree.id));
    assert!(remote_tree.dotted_order.starts_with(&format!("{}.", remote.dotted_order())));
    assert_eq!(remote_tree.child_runs[0].parent_run_id, Some(remote_tree.id));
    Ok(())
}

// --- Exporters that call traced code ------------------------------------------------------

/// An exporter that sends each tree with a traced HTTP client, and counts its calls.
struct TracedUpload {
    /// The callbacks it passes its client: none, or its own tracer's.
    callbacks: OnceLock<CallbackManager>,
    uploads: Arc<AtomicUsize>,
    received: RunCollector,
}

impl Exporter for TracedUpload {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        // A loop, rather than an overflowing stack, if the upload is traced again.
        if self.uploads.fetch_add(1, Ordering::Relaxed) > 10 {
            return Err(ExportError::other("the exporter is tracing its own uploads"));
        }
        let callbacks = self.callbacks.get().cloned().unwrap_or_default();
        let post = callbacks.start_run(RunKind::Tool, "http_post", &json!({ "url": "https://example.invalid/runs" }));
        post.and_then(|post| post.end(&201)).map_err(ExportError::other)?;
        self.received.export(tree)
    }
}

/// Regression: an exporter calling a traced function inside its own tracer's scope traced
/// that call, whose root ended and was exported by the same exporter, without end.
#[test]
fn an_exporter_calling_traced_code_inside_its_tracers_scope_exports_each_tree_once() -> TestResult {
    let uploads = Arc::new(AtomicUsize::new(0));
    let received = RunCollector::new();
    let exporter =
        TracedUpload { callbacks: OnceLock::new(), uploads: Arc::clone(&uploads), received: received.clone() };
    let tracer = Tracer::new(exporter);

    // An outer scope, which is not exporting, still sees the upload.
    let (answered, outer) = collect_runs(|| {
        tracer.in_scope(|| CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?.end(&4))
    });
    answered?;

    assert_eq!(uploads.load(Ordering::Relaxed), 1);
    let names: Vec<String> = received.take().into_iter().map(|tree| tree.name.clone()).collect();
    assert_eq!(names, ["answer"]);
    let mut outer: Vec<&str> = outer.iter().map(|tree| tree.name.as_str()).collect();
    outer.sort_unstable();
    assert_eq!(outer, ["answer", "http_post"]);
    assert_eq!(tracer.open_runs(), 0);
    Ok(())
}

/// The same, with the exporter handing its own tracer to its client explicitly.
#[test]
fn an_exporter_passing_its_own_tracer_to_traced_code_does_not_trace_it() -> TestResult {
    let uploads = Arc::new(AtomicUsize::new(0));
    let received = RunCollector::new();
    let exporter = Arc::new(TracedUpload {
        callbacks: OnceLock::new(),
        uploads: Arc::clone(&uploads),
        received: received.clone(),
    });
    let tracer = Tracer::new(Arc::clone(&exporter));
    let callbacks = CallbackManager::new().with_handler(&tracer);
    let _ = exporter.callbacks.set(callbacks.clone());

    for question in ["2+2?", "3+3?"] {
        callbacks.start_run(RunKind::Chain, "answer", &question)?.end(&"4")?;
    }

    assert_eq!(uploads.load(Ordering::Relaxed), 2);
    assert_eq!(received.len(), 2);
    assert_eq!(tracer.open_runs(), 0, "the uploads left nothing behind");
    Ok(())
}

// --- Log rotation -------------------------------------------------------------------------------

/// Regression: a `RUNTRACE_TRACE` file renamed (log rotation) or deleted while the program
/// ran got every later tree, silently: renamed, they went to the rotated file; deleted, nowhere.
#[test]
fn a_trace_file_renamed_or_deleted_mid_run_is_opened_again_at_its_path() -> TestResult {
    let path = temp_path("rotated");
    let rotated = temp_path("rotated-1");
    let tracer = Tracer::jsonl(&path)?;
    let callbacks = CallbackManager::new().with_handler(&tracer);
    let answer = |question: &str| callbacks.start_run(RunKind::Chain, "answer", &question)?.end(&"4");

    answer("before the rotation")?;
    std::fs::rename(&path, &rotated)?;
    answer("after the rotation")?;
    answer("after the rotation, again")?;
    let read = |path: &PathBuf| -> Result<Vec<String>, runtrace::tracer::ReadError> {
        let trees = RunTree::read_jsonl(path)?;
        Ok(trees.iter().map(|tree| tree.inputs["input"].as_str().unwrap_or_default().to_owned()).collect())
    };
    assert_eq!(read(&rotated)?, ["before the rotation"]);
    assert_eq!(read(&path)?, ["after the rotation", "after the rotation, again"]);

    std::fs::remove_file(&path)?;
    answer("after the deletion")?;
    assert_eq!(read(&path)?, ["after the deletion"]);
    std::fs::remove_file(&path)?;
    std::fs::remove_file(&rotated)?;
    Ok(())
}
