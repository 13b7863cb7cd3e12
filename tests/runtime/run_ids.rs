//! Caller-chosen run ids (`CallbackManager::with_run_id`): the next run started from the
//! manager gets the id, its children and later runs draw their own, and an id a tracer still
//! holds is refused with a typed error before any handler hears of the run, so no tree is
//! ever merged with another.

use std::sync::Arc;

use crate::common::with_warnings;
use runtrace::handlers::RecordingHandler;
use runtrace::prelude::*;
use runtrace::tracer::RunCollector;
use runtrace::{EventData, RunId};

#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

#[traced_run(kind = "tool")]
fn calculator(expression: String) -> i64 {
    expression.split('+').filter_map(|term| term.trim().parse::<i64>().ok()).sum()
}

#[traced_run(kind = "chain")]
fn agent(question: String, run: &RunManager) -> Result<i64, AgentError> {
    Ok(calculator(question, run))
}

#[test]
fn the_supplied_id_names_the_root_run_and_not_its_children() {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let id = RunId::random();
    let callbacks = CallbackManager::new().with_handler(&tracer).with_run_id(id);

    assert_eq!(agent("2 + 2".into(), &callbacks).expect("an answer"), 4);
    let trees = collector.trees();
    assert_eq!((trees[0].id, trees[0].trace_id), (id, id));
    assert_ne!(trees[0].child_runs[0].id, id);
    assert_eq!(trees[0].child_runs[0].parent_run_id, Some(id));
}

#[test]
fn only_the_next_run_gets_the_id_even_from_a_clone() {
    let recorder = Arc::new(RecordingHandler::new());
    let id = RunId::random();
    let callbacks = CallbackManager::new().with_handler(recorder.clone()).with_run_id(id);
    let clone = callbacks.clone();

    agent("1 + 1".into(), &clone).expect("an answer");
    agent("1 + 2".into(), &callbacks).expect("an answer");
    let roots: Vec<RunId> = recorder.runs().iter().filter(|run| run.name == "agent").map(|run| run.run_id).collect();
    assert_eq!(roots.len(), 2);
    assert_eq!(roots[0], id);
    assert_ne!(roots[1], id, "a second run with the id would be merged with the first");
}

#[test]
fn an_id_a_tracer_holds_is_refused_and_its_tree_stays_whole() -> Result<(), CallbackError> {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let recorder = Arc::new(RecordingHandler::new());
    let shared = CallbackManager::new().with_handler(&tracer).with_handler(recorder.clone());

    let id = RunId::random();
    let first = shared.clone().with_run_id(id).start_run(RunKind::Chain, "first", &"question")?;
    let tool = first.children().start_run(RunKind::Tool, "tool", &"input")?;
    let tool_id = tool.run_id().expect("a heard run");
    tool.end(&1)?;

    // The id of the open root, and that of its ended child (held until the tree is exported).
    for taken in [id, tool_id] {
        let refused = agent("1 + 1".into(), shared.clone().with_run_id(taken));
        match refused {
            Err(AgentError::Callback(CallbackError::RunIdInUse { run_id, handler })) => {
                assert_eq!(run_id, taken);
                assert!(!handler.is_empty());
            }
            other => panic!("expected RunIdInUse, got {other:?}"),
        }
    }
    let heard: Vec<String> = recorder.events().iter().map(|event| event.run.name.to_string()).collect();
    assert_eq!(heard, ["first", "tool", "tool"], "no handler heard of the refused runs");

    first.end(&"answer")?;
    let trees = collector.trees();
    assert_eq!(trees.len(), 1);
    let tree = &trees[0];
    assert_eq!((tree.id, tree.name.as_str(), tree.error.as_deref()), (id, "first", None));
    assert_eq!(tree.outputs.as_ref().map(|outputs| outputs["output"].clone()), Some("answer".into()));
    assert_eq!(tree.child_runs.len(), 1);
    assert_eq!(tracer.open_runs(), 0);

    // Once exported, the tracer holds it no more: the id may name a new run (as LangSmith
    // would then see two runs with one id, choosing a fresh id per call is the rule).
    agent("1 + 1".into(), shared.clone().with_run_id(id)).expect("an answer");
    assert_eq!(collector.trees()[1].id, id);
    Ok(())
}

#[test]
fn a_refused_start_of_a_function_without_a_result_runs_it_untraced() {
    let recorder = Arc::new(RecordingHandler::new());
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let shared = CallbackManager::new().with_handler(&tracer).with_handler(recorder.clone());
    let id = RunId::random();
    let open = shared.clone().with_run_id(id).start_run(RunKind::Chain, "open", &"q").expect("a start");

    // `calculator` returns a plain value: the call still runs, untraced, and returns it,
    // and the warning says so.
    let (answer, warnings) = with_warnings(|| calculator("2 + 3".into(), shared.clone().with_run_id(id)));
    assert_eq!(answer, 5);
    let warned = warnings.iter().find(|warning| warning.message.contains("could not start"));
    let warned = warned.unwrap_or_else(|| panic!("a warning that the run could not start, in {warnings:?}"));
    assert!(warned.message.contains("it runs untraced") && warned.message.contains("is in use"), "{warned:?}");
    assert!(recorder.events().iter().all(|event| event.run.name == "open"));
    assert!(matches!(recorder.events()[0].data, EventData::Start(_)));
    open.end(&"done").expect("an end");
    assert_eq!(collector.trees().len(), 1);
}
