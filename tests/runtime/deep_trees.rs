//! Trees as deep as a loop makes them: exported, dropped, cloned, compared, printed, written
//! and read back on a thread with a 2 MiB stack, and traces exported in pieces of bounded
//! depth that link back into one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use runtrace::tracer::{ExportError, Exporter, JsonlExporter, JsonlReader, ReadError, RunCollector, RunTree, Tracer};
use runtrace::{CallbackError, CallbackManager, RunGuard, RunId, RunKind};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The stack of a thread spawned with the defaults, and of many a server's worker threads.
const SMALL_STACK: usize = 2 * 1024 * 1024;

/// The length of one dotted-order segment (a compact time, a hyphenated id) and its dot.
const SEGMENT: usize = 22 + 36 + 1;

/// Runs `body` on a thread with a 2 MiB stack. A stack overflow aborts the test binary.
fn on_a_small_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(body)
        .expect("a thread can be spawned")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn temp_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("runtrace-test-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// `depth` runs, each started under the last one by a loop, as an agent that keeps
/// delegating does: the guards, outermost first.
fn chain_of_runs(callbacks: &CallbackManager, depth: usize) -> Result<Vec<RunGuard>, CallbackError> {
    let mut guards: Vec<RunGuard> = Vec::with_capacity(depth);
    for level in 0..depth {
        let parent = guards.last().map_or(callbacks, |guard| guard.children());
        let guard = parent.start_run(RunKind::Chain, "delegate", &json!({ "level": level }))?;
        guards.push(guard);
    }
    Ok(guards)
}

/// Ends the runs innermost first, as the loop's calls return.
fn end_all(mut guards: Vec<RunGuard>) -> Result<(), CallbackError> {
    while let Some(guard) = guards.pop() {
        guard.end(&"delegated")?;
    }
    Ok(())
}

/// How many levels the dotted order of `run` has.
fn levels(run: &RunTree) -> usize {
    (run.dotted_order.len() + 1) / SEGMENT
}

/// The id in the segment `from_end` segments before the last of `run`'s dotted order.
fn segment_id(run: &RunTree, from_end: usize) -> Option<RunId> {
    let end = run.dotted_order.len().checked_sub(from_end * SEGMENT)?;
    run.dotted_order.get(end - 36..end)?.parse().ok()
}

/// Checks each exported piece of one chain as it comes, keeping only what links pieces:
/// the ids of the runs exported so far and their levels. A trace 10,000 levels deep holds
/// 3 GB of dotted orders in all, so nothing is kept of them.
#[derive(Clone, Default)]
struct PieceChecker(Arc<Mutex<Pieces>>);

#[derive(Default)]
struct Pieces {
    levels: HashMap<RunId, usize>,
    trees: usize,
    deepest_piece: usize,
    unfinished: usize,
}

impl Exporter for PieceChecker {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        let mut pieces = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pieces.trees += 1;
        let head_level = match tree.parent_run_id {
            None => 1,
            Some(parent) => pieces.levels.get(&parent).map(|level| level + 1).ok_or_else(|| {
                ExportError::other(format!("piece {} names a parent {parent} not exported before it", tree.id))
            })?,
        };
        let mut stack = vec![(tree, head_level)];
        let mut deepest = 0;
        while let Some((run, level)) = stack.pop() {
            let linked = levels(run) == level
                && segment_id(run, 0) == Some(run.id)
                && (run.parent_run_id.is_none() || segment_id(run, 1) == run.parent_run_id)
                && run.trace_id == segment_id(run, level - 1).unwrap_or(run.id);
            if !linked {
                return Err(ExportError::other(format!("run at level {level} is misplaced: {}", run.dotted_order)));
            }
            pieces.levels.insert(run.id, level);
            pieces.unfinished += usize::from(run.end_time.is_none());
            deepest = deepest.max(level - head_level + 1);
            stack.extend(run.child_runs.iter().map(|child| (child, level + 1)));
        }
        pieces.deepest_piece = pieces.deepest_piece.max(deepest);
        Ok(())
    }
}

/// Starts a chain of runs `depth` deep on a thread with a 2 MiB stack, under a tracer
/// exporting at most `max_depth` levels a tree to a [`PieceChecker`], then ends them with
/// `end`; what the checker saw.
fn export_a_chain(
    depth: usize,
    max_depth: usize,
    end: fn(Vec<RunGuard>) -> Result<(), CallbackError>,
) -> Result<Pieces, CallbackError> {
    let checker = PieceChecker::default();
    let pieces = Arc::clone(&checker.0);
    on_a_small_stack(move || -> Result<(), CallbackError> {
        let tracer = Tracer::new(checker).with_max_tree_depth(max_depth);
        end(chain_of_runs(&CallbackManager::new().with_handler(&tracer), depth)?)?;
        assert_eq!(tracer.open_runs(), 0);
        Ok(())
    })?;
    Ok(std::mem::take(&mut *pieces.lock().unwrap()))
}

/// Regression: a tree 3,000 runs deep built by a loop overflowed a 2 MiB stack when its root
/// ended, as taking it out of the tracer, and dropping it, recursed once per level.
#[test]
fn a_ten_thousand_deep_tree_built_by_a_loop_is_exported_on_a_two_mib_stack() -> TestResult {
    let pieces = export_a_chain(10_000, 100, end_all)?;
    assert_eq!(pieces.levels.len(), 10_000, "every run exported once, each linked to its parent");
    assert_eq!((pieces.trees, pieces.deepest_piece, pieces.unfinished), (100, 100, 0), "in pieces of 100 levels");
    Ok(())
}

/// The same with no depth limit, its root ending while every run below it is still open:
/// one tree 3,000 levels deep, exported whole.
#[test]
fn a_three_thousand_deep_tree_exported_whole_while_its_runs_are_open_stays_on_a_two_mib_stack() -> TestResult {
    let pieces = export_a_chain(3_000, usize::MAX, |mut guards| {
        let inner = guards.split_off(1);
        guards.remove(0).end(&"done early")?;
        // The open runs left with the root's tree: their guards now end runs the tracer no
        // longer holds, which is reported, not raised.
        drop(inner);
        Ok(())
    })?;
    assert_eq!((pieces.trees, pieces.deepest_piece, pieces.unfinished), (1, 3_000, 2_999));
    Ok(())
}

/// A tree `depth` levels deep as one line of JSON, as another tool might write it: short
/// dotted orders, so that the line grows linearly with depth.
fn deep_json(depth: usize) -> String {
    let run = |level: usize| {
        format!(
            r#"{{"id":"{}","trace_id":"00000000-0000-4000-8000-000000000000","parent_run_id":null,"dotted_order":"{level}","name":"delegate","run_type":"chain","start_time":"2024-05-06T07:08:09.123456Z","end_time":null,"inputs":{{"level":{level}}},"child_runs":["#,
            RunId::random()
        )
    };
    let mut json = String::with_capacity(depth * 400);
    (0..depth).for_each(|level| json.push_str(&run(level)));
    (0..depth).for_each(|_| json.push_str("]}"));
    json
}

/// Regression: `Drop`, `Clone`, `PartialEq`, `Debug`, `Serialize` and the drawing of
/// `RunTree` recursed once per level of `child_runs`, and serde_json refused to read more
/// than 63 levels.
#[test]
fn a_ten_thousand_deep_tree_drops_clones_compares_prints_and_round_trips_on_a_two_mib_stack() -> TestResult {
    on_a_small_stack(|| -> TestResult {
        let json = deep_json(10_000);
        let tree = RunTree::from_jsonl(json.as_bytes())?.remove(0);
        assert_eq!(tree.runs().count(), 10_000);

        let copy = tree.clone();
        assert_eq!(copy, tree);
        let printed = format!("{copy:?}");
        assert!(printed.matches("RunTree {").count() == 10_000, "every level printed");
        let drawn = copy.view().to_string();
        let widest = drawn.lines().map(|line| line.chars().count()).max().unwrap_or_default();
        assert_eq!(drawn.lines().count(), 10_000);
        assert!(widest < 200, "deep lines draw the deepest rails only, not 10,000 levels of them: {widest}");
        let written = serde_json::to_string(&copy)?;
        let read_back = RunTree::from_jsonl(written.as_bytes())?.remove(0);
        assert_eq!(read_back, tree);
        drop((copy, read_back));

        let path = temp_path("deep-exporter");
        JsonlExporter::open(&path)?.export(&tree)?;
        assert_eq!(RunTree::read_jsonl(&path)?, [tree]);
        std::fs::remove_file(&path)?;
        Ok(())
    })
}

/// Regression: what the JSON Lines exporter wrote, a tree 64 runs deep or an input nested
/// 130 levels, was refused on reading, and the refusal failed the whole file.
#[test]
fn deep_trees_and_deeply_nested_inputs_read_back() -> TestResult {
    let path = temp_path("deep-read");
    let tracer = Tracer::jsonl(&path)?;
    let callbacks = CallbackManager::new().with_handler(&tracer);
    end_all(chain_of_runs(&callbacks, 64)?)?;
    // 126 levels: as deep as a value is recorded whole (128, see `recorded_values`), and
    // with the line's own levels past serde_json's default reading limit of 128.
    let mut nested = json!("the bottom");
    for _ in 0..126 {
        nested = json!({ "wrapped": nested });
    }
    callbacks.start_run(RunKind::Tool, "unwrap", &nested)?.end(&"the bottom")?;

    let trees = RunTree::read_jsonl(&path)?;
    assert_eq!(trees.len(), 2);
    assert_eq!(trees[0].runs().count(), 64);
    assert_eq!(trees[1].inputs, *nested.as_object().unwrap());
    std::fs::remove_file(&path)?;
    Ok(())
}

/// Regression: one torn line, cut by a crash inside a multi-byte character, made the whole
/// file unreadable ("stream did not contain valid UTF-8"), so `trace_view` drew nothing.
#[test]
fn a_line_torn_inside_a_character_costs_that_line_only() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let callbacks = CallbackManager::new().with_handler(&tracer);
    for question in 0..34 {
        callbacks.start_run(RunKind::Chain, "answer", &format!("question {question}: ¿ünïcode? ✓"))?.end(&"✓")?;
    }
    let mut file = Vec::new();
    for tree in collector.take() {
        file.extend(serde_json::to_vec(&tree)?);
        file.push(b'\n');
    }
    // The last tree, torn in the middle of its last `✓` (three bytes).
    let check = "✓".as_bytes();
    let torn = file.windows(check.len()).rposition(|bytes| bytes == check).ok_or("no ✓ written")? + 1;
    file.truncate(torn);
    assert!(std::str::from_utf8(&file).is_err(), "the cut is inside a character");

    let read: Vec<Result<RunTree, ReadError>> = JsonlReader::new(&file[..]).collect();
    assert_eq!(read.len(), 34);
    assert!(read[..33].iter().all(Result::is_ok), "every whole tree is read");
    assert!(matches!(read[33], Err(ReadError::Line { line: 34, .. })), "{:?}", read[33]);
    assert!(matches!(RunTree::from_jsonl(&file[..]), Err(ReadError::Line { line: 34, .. })), "strict reading names it");
    Ok(())
}
