//! Which handlers, tags and metadata each run of a tree sees, and how the runs of a tree are
//! linked: LangChain's scoping rules, through the facade.

use std::sync::Arc;

use crate::common::{names, recording, start_of, tags_of};
use runtrace::event::EventType;
use runtrace::handlers::RecordingHandler;
use runtrace::handlers::{IntoHandler, RegisteredHandler};
use runtrace::{CallbackError, CallbackManager, RunKind};

/// outer (chain) > model (llm) > calculator (tool), each ended.
fn run_tree(callbacks: &CallbackManager) -> Result<(), CallbackError> {
    let outer = callbacks.start_run(RunKind::Chain, "outer", &"question")?;
    let model = outer.children().start_run(RunKind::Llm, "model", &"prompt")?;
    model.on_llm_new_token("4")?;
    let tool = model.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    tool.end(&4)?;
    model.end(&"4")?;
    outer.end(&"the answer is 4")
}

#[test]
fn request_handler_sees_the_outer_run_and_every_nested_run() -> Result<(), CallbackError> {
    use EventType::{End, NewToken, Start};
    let (request, callbacks) = recording();
    run_tree(&callbacks)?;

    assert_eq!(names(&request), ["outer", "model", "calculator"]);
    assert_eq!(request.event_types(), [Start, Start, NewToken, Start, End, End, End]);
    Ok(())
}

#[test]
fn local_handler_sees_only_the_run_it_was_given_to() -> Result<(), CallbackError> {
    let (request, callbacks) = recording();
    let constructor = Arc::new(RecordingHandler::new());
    run_tree(&callbacks.with_local_handler(constructor.clone()))?;

    assert_eq!(names(&constructor), ["outer"]);
    assert_eq!(constructor.event_types(), [EventType::Start, EventType::End]);
    assert_eq!(names(&request), ["outer", "model", "calculator"]);
    Ok(())
}

#[test]
fn constructor_callbacks_given_through_configure_stay_on_their_own_run() -> Result<(), CallbackError> {
    let (request, request_callbacks) = recording();
    let (constructor, constructor_callbacks) = recording();
    run_tree(&CallbackManager::configure(&request_callbacks, &constructor_callbacks))?;

    assert_eq!(names(&constructor), ["outer"]);
    assert_eq!(names(&request), ["outer", "model", "calculator"]);
    Ok(())
}

#[test]
fn constructor_callbacks_of_a_nested_object_hear_its_run_as_a_child_of_the_caller() -> Result<(), CallbackError> {
    let (request, callbacks) = recording();
    let (constructor, own_callbacks) = recording();

    let outer = callbacks.start_run(RunKind::Chain, "outer", &())?;
    // What `#[traced_run(callbacks = self.callbacks)]` does for a method called with `outer`.
    let configured = CallbackManager::configure(outer.children(), &own_callbacks);
    let method = configured.start_run(RunKind::Chain, "MyChain::call", &())?;
    let inner = method.children().start_run(RunKind::Llm, "model", &())?;
    inner.end(&())?;
    method.end(&())?;
    let outer_id = outer.run_id();
    outer.end(&())?;

    assert_eq!(names(&constructor), ["MyChain::call"]);
    assert_eq!(constructor.runs()[0].parent_run_id, outer_id);
    assert_eq!(names(&request), ["outer", "MyChain::call", "model"]);
    Ok(())
}

#[test]
fn configure_puts_inheritable_then_local_then_console_and_passes_on_only_inheritable() {
    let [a, b, c, d] = [(); 4].map(|()| RegisteredHandler::new(RecordingHandler::new()));
    let inheritable = CallbackManager::new().with_handler(a.clone()).with_handler(b.clone());
    let local = CallbackManager::new().with_handler(c.clone()).with_handler(d.clone());

    let configured = CallbackManager::configure(&inheritable, &local).with_verbose(true);

    let handlers = configured.handlers();
    assert_eq!(handlers.len(), 5, "{handlers:?}");
    assert_eq!(handlers[..4], [a.clone(), b.clone(), c, d]);
    let console = &handlers[4];
    assert!(console.name().contains("ConsoleHandler"), "the last handler is {console:?}");
    assert_eq!(configured.inheritable_handlers(), [a, b]);
}

#[test]
fn configure_without_verbose_adds_no_console() {
    let a = RegisteredHandler::new(RecordingHandler::new());
    let configured =
        CallbackManager::configure(&CallbackManager::new().with_handler(a.clone()), &CallbackManager::new());
    assert_eq!(configured.handlers(), [a]);
}

#[test]
fn same_handler_added_twice_is_kept_once_and_hears_each_event_once() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let handler = IntoHandler::into_handler(recorder.clone() as Arc<dyn runtrace::CallbackHandler>);
    let callbacks = CallbackManager::new()
        .with_handler(recorder.clone())
        .with_handler(recorder.clone())
        .with_handler(handler.clone())
        .with_local_handler(handler);
    assert_eq!(callbacks.handlers().len(), 1);
    assert_eq!(callbacks.inheritable_handlers().len(), 1);

    callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    Ok(())
}

#[test]
fn handler_both_inheritable_and_local_in_configure_is_kept_once() -> Result<(), CallbackError> {
    let (recorder, inheritable) = recording();
    let local = CallbackManager::new().with_handler(recorder.clone());
    let configured = CallbackManager::configure(&inheritable, &local);
    assert_eq!(configured.handlers().len(), 1);

    configured.start_run(RunKind::Chain, "answer", &())?.end(&())?;
    assert_eq!(recorder.len(), 2);
    Ok(())
}

#[test]
fn get_child_tag_is_on_the_child_run_but_not_on_the_grandchild() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request"]);

    let outer = callbacks.start_run(RunKind::Chain, "map", &())?;
    let child = outer.get_child("step:1").start_run(RunKind::Llm, "model", &())?;
    let grandchild = child.children().start_run(RunKind::Tool, "calculator", &())?;
    grandchild.end(&())?;
    child.end(&())?;
    outer.end(&())?;

    assert_eq!(tags_of(&recorder, "map"), ["request"]);
    assert_eq!(tags_of(&recorder, "model"), ["request", "step:1"]);
    assert_eq!(tags_of(&recorder, "calculator"), ["request"]);
    Ok(())
}

#[test]
fn get_child_makes_a_manager_whose_runs_are_children_of_the_run() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let outer = callbacks.start_run(RunKind::Chain, "map", &())?;

    let child_callbacks = outer.get_child(None);
    assert_eq!(child_callbacks.parent_run_id(), outer.run_id());
    assert!(child_callbacks.tags().is_empty());
    child_callbacks.start_run(RunKind::Tool, "calculator", &())?.end(&())?;
    outer.end(&())?;

    let runs = recorder.runs();
    assert_eq!(runs[1].parent_run_id, Some(runs[0].run_id));
    Ok(())
}

#[test]
fn local_tags_and_metadata_stay_on_the_run_inheritable_ones_reach_the_child() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks
        .with_tags(["request-42"])
        .with_local_tags(["draft"])
        .with_metadata([("user", "ada")])
        .with_local_metadata([("step", 1)]);

    let outer = callbacks.start_run(RunKind::Chain, "outer", &())?;
    let child = outer.children().start_run(RunKind::Llm, "model", &())?;
    let grandchild = child.children().start_run(RunKind::Tool, "calculator", &())?;
    grandchild.end(&())?;
    child.end(&())?;
    outer.end(&())?;

    let outer = start_of(&recorder, "outer");
    assert_eq!(&outer.tags[..], ["request-42", "draft"]);
    assert_eq!(outer.metadata.get("user"), Some(&serde_json::json!("ada")));
    assert_eq!(outer.metadata.get("step"), Some(&serde_json::json!(1)));

    for name in ["model", "calculator"] {
        let nested = start_of(&recorder, name);
        assert_eq!(&nested.tags[..], ["request-42"], "tags of {name}");
        assert_eq!(nested.metadata.get("user"), Some(&serde_json::json!("ada")), "metadata of {name}");
        assert_eq!(nested.metadata.get("step"), None, "metadata of {name}");
    }
    Ok(())
}

#[test]
fn local_metadata_overrides_inheritable_metadata_on_the_run_only() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_metadata([("model", "small")]).with_local_metadata([("model", "large")]);

    let outer = callbacks.start_run(RunKind::Chain, "outer", &())?;
    outer.children().start_run(RunKind::Llm, "model", &())?.end(&())?;
    outer.end(&())?;

    assert_eq!(start_of(&recorder, "outer").metadata.get("model"), Some(&serde_json::json!("large")));
    assert_eq!(start_of(&recorder, "model").metadata.get("model"), Some(&serde_json::json!("small")));
    Ok(())
}

#[test]
fn nested_runs_point_to_their_parent_and_a_tree_shares_the_root_trace_id() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();

    // root > (a > a1, b); then a second, unrelated root.
    let root = callbacks.start_run(RunKind::Chain, "root", &())?;
    let a = root.children().start_run(RunKind::Agent, "a", &())?;
    let a1 = a.children().start_run(RunKind::Tool, "a1", &())?;
    a1.end(&())?;
    a.end(&())?;
    let b = root.children().start_run(RunKind::Retriever, "b", &())?;
    b.end(&())?;
    root.end(&())?;
    let other = callbacks.start_run(RunKind::Chain, "other", &())?;
    other.end(&())?;

    let runs = recorder.runs();
    let run = |name: &str| runs.iter().find(|run| run.name == name).unwrap_or_else(|| panic!("no run `{name}`"));
    let id = |name: &str| run(name).run_id;

    assert_eq!(run("root").parent_run_id, None);
    assert_eq!(run("a").parent_run_id, Some(id("root")));
    assert_eq!(run("a1").parent_run_id, Some(id("a")));
    assert_eq!(run("b").parent_run_id, Some(id("root")));
    assert_eq!(run("other").parent_run_id, None);

    for name in ["root", "a", "a1", "b"] {
        assert_eq!(run(name).trace_id, id("root"), "trace of {name}");
    }
    assert_eq!(run("other").trace_id, id("other"));

    let mut ids: Vec<_> = runs.iter().map(|run| run.run_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every run has its own id");

    // Every event of a run, not only its start, carries the same identity.
    for event in recorder.events() {
        assert_eq!(Some(&*event.run), runs.iter().find(|run| run.run_id == event.run.run_id));
    }
    Ok(())
}

#[test]
fn run_manager_reports_the_ids_its_events_carry() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let root = callbacks.start_run(RunKind::Chain, "root", &())?;
    let child = root.children().start_run(RunKind::Llm, "model", &())?;

    assert_eq!(child.parent_run_id(), root.run_id());
    assert_eq!(child.trace_id(), root.run_id());
    assert_eq!(root.trace_id(), root.run_id());
    assert_eq!(root.parent_run_id(), None);
    let runs = recorder.runs();
    assert_eq!((Some(runs[0].run_id), Some(runs[1].run_id)), (root.run_id(), child.run_id()));

    child.end(&())?;
    root.end(&())
}

/// Regression: `verbose` added its console handler beside a request's own `ConsoleHandler`,
/// printing every line twice; like LangChain, it now checks the handler's type.
#[test]
fn verbose_adds_no_console_where_a_console_handler_is_already_present() {
    let request =
        CallbackManager::new().with_handler(runtrace::handlers::ConsoleHandler::new().with_writer(std::io::sink()));
    let configured = CallbackManager::configure(&request, CallbackManager::none()).with_verbose(true);
    assert_eq!(configured.handlers(), request.handlers());

    let quiet = CallbackManager::configure(CallbackManager::none(), CallbackManager::none()).with_verbose(true);
    assert_eq!(quiet.handlers().len(), 1, "without one, verbose adds the console handler");
}

#[test]
fn threads_sharing_one_manager_see_the_same_scoping_as_one_thread() {
    // Threads take their callbacks from per-thread copies of the manager's (see the
    // `stripe` module): every one must see what a lone thread sees.
    let (request, callbacks) = recording();
    let local = Arc::new(RecordingHandler::new());
    let callbacks = callbacks.with_local_handler(local.clone()).with_tags(["shared"]).with_local_tags(["top-only"]);
    std::thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| run_tree(&callbacks).expect("no handler raises"));
        }
    });

    assert_eq!(names(&local), ["outer"; 20], "a local handler hears the top run only, on every thread");
    let mut heard = names(&request);
    heard.sort();
    assert_eq!(heard, [["calculator"; 20], ["model"; 20], ["outer"; 20]].concat());
    for run in request.runs() {
        let tags = request
            .events()
            .into_iter()
            .find_map(|event| match &event.data {
                runtrace::EventData::Start(start) if event.run.run_id == run.run_id => Some(start.tags.to_vec()),
                _ => None,
            })
            .expect("every run started");
        let expected: &[&str] = if run.name == "outer" { &["shared", "top-only"] } else { &["shared"] };
        assert_eq!(tags, expected, "the tags of {}", run.name);
    }
}
