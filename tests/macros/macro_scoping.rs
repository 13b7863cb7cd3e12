//! LangChain's scoping rules, through `#[traced_run]`: which handlers, tags and metadata each
//! run of a tree sees, and how the runs of a tree are linked.

use crate::common::{handler_names, has_console, metadata_of, names, recording, run_named, tags_of};
use runtrace::event::{EventType, RunInfo};
use runtrace::prelude::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// A small tree: answer (chain) > generate (llm) > calculator (tool)

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

#[traced_run(kind = "llm")]
fn generate(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    run.on_llm_new_token("4")?;
    let sum = calculator("2 + 2".into(), run);
    Ok(format!("{prompt} {sum}"))
}

#[traced_run(kind = "chain")]
fn answer(question: String, run: &RunManager) -> Result<String, CallbackError> {
    generate(question, run)
}

#[test]
fn request_handlers_see_every_run_of_the_tree() -> Result<(), CallbackError> {
    use EventType::{End, NewToken, Start};
    let (recorder, callbacks) = recording();

    assert_eq!(answer("2+2=".into(), &callbacks)?, "2+2= 4");

    assert_eq!(names(&recorder), ["answer", "generate", "calculator"]);
    assert_eq!(recorder.event_types(), [Start, Start, NewToken, Start, End, End, End]);
    Ok(())
}

#[test]
fn parent_ids_chain_exactly_and_the_tree_shares_one_trace_id() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();

    answer("q".into(), &callbacks)?;
    answer("q".into(), &callbacks)?;

    let runs = recorder.runs();
    assert_eq!(runs.len(), 6);
    for tree in runs.chunks(3) {
        let [root, llm, tool] = tree else { unreachable!() };
        assert_eq!(root.parent_run_id, None);
        assert_eq!(llm.parent_run_id, Some(root.run_id));
        assert_eq!(tool.parent_run_id, Some(llm.run_id));
        assert!(tree.iter().all(|run| run.trace_id == root.run_id));
    }
    assert_ne!(runs[0].trace_id, runs[3].trace_id, "each root call starts its own trace");
    let mut ids: Vec<_> = runs.iter().map(|run| run.run_id).collect();
    ids.sort_by_key(ToString::to_string);
    ids.dedup();
    assert_eq!(ids.len(), 6, "every run has its own id");
    // Every event of a run carries the run's own identity.
    for event in recorder.events() {
        let started = runs.iter().find(|run| run.run_id == event.run.run_id).expect("an event of an unknown run");
        assert_eq!(&*event.run, started);
    }
    Ok(())
}

#[traced_run]
fn siblings(run: &RunManager) -> f64 {
    calculator("1".into(), run) + calculator("2".into(), run)
}

#[test]
fn sibling_calls_made_with_the_same_run_are_children_of_that_run() {
    let (recorder, callbacks) = recording();

    assert!((siblings(&callbacks) - 3.0).abs() < f64::EPSILON);

    let parent = run_named(&recorder, "siblings");
    let children: Vec<RunInfo> = recorder.runs().into_iter().filter(|run| run.name == "calculator").collect();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|child| child.parent_run_id == Some(parent.run_id)));
    assert_ne!(children[0].run_id, children[1].run_id);
}

/// Keeps a request manager of its own and starts its calculator runs from it.
struct Detached {
    request: CallbackManager,
}

impl Detached {
    #[traced_run]
    fn call(&self, run: &RunManager) -> f64 {
        assert!(run.is_recording());
        calculator("5".into(), &self.request)
    }
}

#[test]
fn a_call_given_a_callback_manager_instead_of_the_run_starts_a_new_root() {
    let (recorder, callbacks) = recording();

    Detached { request: callbacks.clone() }.call(&callbacks);

    let outer = run_named(&recorder, "Detached::call");
    let inner = run_named(&recorder, "calculator");
    assert_eq!(inner.parent_run_id, None);
    assert_eq!(inner.trace_id, inner.run_id);
    assert_ne!(inner.trace_id, outer.trace_id);
}

// ---------------------------------------------------------------------------------------------
// Constructor callbacks: the object's own runs only

struct Agent {
    callbacks: CallbackManager,
}

impl Agent {
    #[traced_run(kind = "agent", callbacks = self.callbacks)]
    fn solve(&self, question: String, run: &RunManager) -> Result<String, CallbackError> {
        answer(question, run)
    }
}

#[test]
fn constructor_handlers_see_only_the_objects_own_runs_and_request_handlers_see_all() -> Result<(), CallbackError> {
    let (request, callbacks) = recording();
    let (constructor, own) = recording();
    let agent = Agent { callbacks: own };

    agent.solve("2+2=".into(), &callbacks)?;
    agent.solve("2+2=".into(), &callbacks)?;

    assert_eq!(names(&constructor), ["Agent::solve", "Agent::solve"]);
    assert_eq!(constructor.event_types(), [EventType::Start, EventType::End, EventType::Start, EventType::End]);
    assert_eq!(
        names(&request),
        ["Agent::solve", "answer", "generate", "calculator", "Agent::solve", "answer", "generate", "calculator"]
    );
    // Both saw the same run.
    assert_eq!(constructor.runs()[0], request.runs()[0]);
    Ok(())
}

#[test]
fn constructor_handlers_alone_record_the_objects_run_and_nothing_nested() -> Result<(), CallbackError> {
    let (constructor, own) = recording();
    let agent = Agent { callbacks: own };

    assert_eq!(agent.solve("1+1=".into(), CallbackManager::none())?, "1+1= 4");

    assert_eq!(names(&constructor), ["Agent::solve"]);
    assert_eq!(constructor.event_types(), [EventType::Start, EventType::End]);
    Ok(())
}

#[traced_run]
fn inner_handlers(run: &RunManager) -> Vec<String> {
    handler_names(run)
}

struct Inspector {
    callbacks: CallbackManager,
}

impl Inspector {
    #[traced_run(callbacks = self.callbacks)]
    fn inspect(&self, run: &RunManager) -> (Vec<String>, Vec<String>) {
        (handler_names(run), inner_handlers(run))
    }
}

#[test]
fn constructor_handlers_are_on_the_run_but_not_on_its_children() {
    let (_request, callbacks) = recording();
    let constructor = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
    let inspector = Inspector { callbacks: constructor };

    let (own, child) = inspector.inspect(&callbacks);

    assert_eq!(own.len(), 2);
    assert!(has_console(&own), "{own:?}");
    assert_eq!(child.len(), 1);
    assert!(!has_console(&child), "{child:?}");
}

// ---------------------------------------------------------------------------------------------
// verbose: a console handler on this run only

#[traced_run(verbose = true)]
fn verbose_parent(run: &RunManager) -> (Vec<String>, Vec<String>) {
    (handler_names(run), inner_handlers(run))
}

#[test]
fn verbose_adds_the_console_handler_to_the_run_but_not_to_its_children() {
    let (recorder, callbacks) = recording();

    let (own, child) = verbose_parent(&callbacks);

    assert!(has_console(&own), "{own:?}");
    assert_eq!(own.len(), 2);
    assert!(!has_console(&child), "{child:?}");
    assert_eq!(child.len(), 1);
    assert_eq!(names(&recorder), ["verbose_parent", "inner_handlers"]);
}

#[test]
fn verbose_without_request_handlers_records_the_run_on_the_console_only() {
    let (own, child) = verbose_parent(CallbackManager::none());

    assert_eq!(own.len(), 1);
    assert!(has_console(&own), "{own:?}");
    assert!(child.is_empty(), "{child:?}");
}

// ---------------------------------------------------------------------------------------------
// Tags and metadata: the attribute's are local, the request's inherited

#[traced_run(tags("outer-tag"), metadata(step = 1, user = "bob"))]
fn tagged_outer(run: &RunManager) -> Vec<String> {
    let own = run.tags().to_vec();
    tagged_inner(run);
    own
}

#[traced_run(kind = "tool")]
fn tagged_inner(run: &RunManager) -> Vec<String> {
    tagged_leaf(run);
    run.tags().to_vec()
}

#[traced_run(kind = "tool")]
fn tagged_leaf() {}

#[test]
fn attribute_tags_and_metadata_stay_on_their_run_and_request_ones_are_inherited() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request"]).with_metadata([("user", "ada"), ("session", "s1")]);

    assert_eq!(tagged_outer(&callbacks), ["request", "outer-tag"]);

    assert_eq!(tags_of(&recorder, "tagged_outer"), ["request", "outer-tag"]);
    assert_eq!(tags_of(&recorder, "tagged_inner"), ["request"]);
    assert_eq!(tags_of(&recorder, "tagged_leaf"), ["request"]);
    assert_eq!(metadata_of(&recorder, "tagged_outer"), json!({"user": "bob", "session": "s1", "step": 1}));
    assert_eq!(metadata_of(&recorder, "tagged_inner"), json!({"user": "ada", "session": "s1"}));
    assert_eq!(metadata_of(&recorder, "tagged_leaf"), json!({"user": "ada", "session": "s1"}));
}

#[traced_run]
fn with_child_tag(run: &RunManager) {
    tagged_inner(run.get_child("step:1"));
}

#[test]
fn get_child_tag_is_on_the_child_only_not_on_the_grandchild() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request"]);

    with_child_tag(&callbacks);

    assert_eq!(tags_of(&recorder, "with_child_tag"), ["request"]);
    assert_eq!(tags_of(&recorder, "tagged_inner"), ["request", "step:1"]);
    assert_eq!(tags_of(&recorder, "tagged_leaf"), ["request"]);
    let parent = run_named(&recorder, "with_child_tag");
    assert_eq!(run_named(&recorder, "tagged_inner").parent_run_id, Some(parent.run_id));
}

// ---------------------------------------------------------------------------------------------
// No handlers

#[traced_run]
fn observe_noop(run: &RunManager) -> (bool, bool, Option<String>) {
    let child = observe_child(run);
    (run.is_recording(), child, run.run_id().map(|id| id.to_string()))
}

#[traced_run(tags("ignored"), metadata(also = "ignored"))]
fn observe_child(run: &RunManager) -> bool {
    run.is_recording() || !run.tags().is_empty() || !run.metadata().is_empty()
}

#[test]
fn callback_manager_none_records_nothing_for_the_run_or_its_children() {
    assert_eq!(observe_noop(CallbackManager::none()), (false, false, None));
    assert_eq!(observe_noop(CallbackManager::new()), (false, false, None));
}

#[test]
fn answer_with_no_handlers_returns_the_same_value() -> Result<(), CallbackError> {
    let (_recorder, callbacks) = recording();
    assert_eq!(answer("x".into(), CallbackManager::none())?, answer("x".into(), &callbacks)?);
    Ok(())
}
