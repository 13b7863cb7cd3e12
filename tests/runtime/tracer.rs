//! The tracer: run trees assembled from events under concurrency, exported to JSON Lines and
//! memory, the `collect_runs` and "trace this block" scopes, and `RUNTRACE_TRACE`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use runtrace::event::{AgentAction, AgentFinish};
use runtrace::handlers::RecordingHandler;
use runtrace::propagation::TraceContext;
use runtrace::tracer::{
    JsonlExporter, RunCollector, RunTree, Tracer, collect_runs, collect_runs_async, scoped_callbacks,
};
use runtrace::{CallbackError, CallbackManager, EventData, RunId, RunKind};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A fresh path in the temp directory; the file does not exist yet.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("runtrace-test-{name}-{}-{n}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A model that streams its answer.
fn fake_llm(prompt: &str, parent: &CallbackManager) -> Result<String, CallbackError> {
    let run = parent.start_run(RunKind::Llm, "fake_llm", &json!({ "prompt": prompt }))?;
    for token in ["Hel", "lo"] {
        run.on_llm_new_token(token)?;
    }
    run.end(&"Hello")?;
    Ok("Hello".into())
}

/// The last segment of a dotted order must be the run's start time (as LangSmith writes
/// it) followed by its id.
fn assert_own_segment(run: &RunTree) {
    let segment = run.dotted_order.rsplit('.').next().unwrap_or_default();
    let start = serde_json::to_value(run).unwrap()["start_time"].as_str().unwrap().replace(['-', ':', '.'], "");
    assert_eq!(segment, format!("{start}{}", run.id), "run {}", run.name);
}

// --- Assembly under concurrency ----------------------------------------------------------

/// One request: a chain with two steps, each a tool calling a model, yielding between every
/// event so that the 1,000 requests interleave.
async fn request(index: usize, callbacks: CallbackManager) -> Result<(), CallbackError> {
    let root = callbacks.start_run(RunKind::Chain, "request", &json!({ "request": index }))?;
    for step in 0..2 {
        tokio::task::yield_now().await;
        let tool = root.children().start_run(
            RunKind::Tool,
            format!("step-{step}"),
            &json!({ "request": index, "step": step }),
        )?;
        tokio::task::yield_now().await;
        let model = tool.children().start_run(RunKind::Llm, format!("model-{step}"), &json!({ "request": index }))?;
        model.on_llm_new_token(&index.to_string())?;
        tokio::task::yield_now().await;
        model.end(&index)?;
        tool.end(&step)?;
    }
    tokio::task::yield_now().await;
    root.end(&index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn trees_of_a_thousand_concurrent_interleaved_runs_are_exact() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(&tracer).with_handler(recorder.clone());

    let tasks: Vec<_> = (0..1000).map(|index| tokio::spawn(request(index, callbacks.clone()))).collect();
    for task in tasks {
        task.await??;
    }

    let trees = collector.trees();
    assert_eq!(trees.len(), 1000);
    assert_eq!(tracer.open_runs(), 0, "every tree left memory when its root ended");

    // The order each trace's runs started in, as the recorder heard it.
    let mut started: HashMap<RunId, Vec<RunId>> = HashMap::new();
    for event in recorder.events() {
        if matches!(event.data, EventData::Start(_)) {
            started.entry(event.run.trace_id).or_default().push(event.run.run_id);
        }
    }

    let mut requests = HashSet::new();
    let mut ids = HashSet::new();
    for root in &trees {
        let index = root.inputs["request"].as_u64().unwrap();
        assert!(requests.insert(index), "request {index} exported twice");
        assert_eq!((root.name.as_str(), root.parent_run_id, root.trace_id), ("request", None, root.id));
        assert_eq!(root.dotted_order.split('.').count(), 1);
        assert_eq!(root.outputs.as_ref().unwrap()["output"], index);

        // Shape: two steps, each with one model, in start order.
        let steps: Vec<&str> = root.child_runs.iter().map(|run| run.name.as_str()).collect();
        assert_eq!(steps, ["step-0", "step-1"]);
        for (step, tool) in root.child_runs.iter().enumerate() {
            assert_eq!(tool.child_runs.len(), 1);
            let model = &tool.child_runs[0];
            assert_eq!(model.name, format!("model-{step}"));
            assert!(model.child_runs.is_empty());
            // No cross-talk: every run of the tree belongs to this request.
            assert_eq!(tool.inputs["request"], index);
            assert_eq!(model.inputs["request"], index);
            assert_eq!(model.events[0].kwargs["token"], index.to_string());
            // Parent ids, trace ids and dotted orders link the levels.
            assert_eq!((tool.parent_run_id, model.parent_run_id), (Some(root.id), Some(tool.id)));
            assert_eq!((tool.trace_id, model.trace_id), (root.id, root.id));
            assert!(tool.dotted_order.starts_with(&format!("{}.", root.dotted_order)));
            assert!(model.dotted_order.starts_with(&format!("{}.", tool.dotted_order)));
        }

        for run in root.runs() {
            assert!(ids.insert(run.id), "run {} appears twice", run.id);
            assert_own_segment(run);
            // The dotted order parses as LangSmith's, and names this run, its parent and root.
            let context = TraceContext::from_dotted_order(&run.dotted_order)?;
            assert_eq!(
                (context.run_id(), context.parent_run_id(), context.trace_id()),
                (run.id, run.parent_run_id, root.id)
            );
        }

        // Sorted by dotted order, the runs come in the order they started.
        let mut by_dotted_order: Vec<&RunTree> = root.runs().collect();
        by_dotted_order.sort_by(|a, b| a.dotted_order.cmp(&b.dotted_order));
        let sorted: Vec<RunId> = by_dotted_order.iter().map(|run| run.id).collect();
        assert_eq!(sorted, started[&root.id]);
        assert!(by_dotted_order.windows(2).all(|pair| pair[0].start_time < pair[1].start_time));
    }
    assert_eq!(ids.len(), 5000);
    Ok(())
}

/// A run's dotted order must have one segment per level from its root down, each a start
/// time and the id of the run at that level, ending with its own: nothing before the root's
/// segment, nothing after its own.
fn assert_dotted_orders_follow_ancestry(root: &RunTree) {
    fn check(run: &RunTree, ancestors: &mut Vec<RunId>) {
        ancestors.push(run.id);
        let segments: Vec<&str> = run.dotted_order.split('.').collect();
        assert_eq!(segments.len(), ancestors.len(), "run {}: {}", run.name, run.dotted_order);
        for (segment, id) in segments.iter().zip(ancestors.iter()) {
            // A compact UTC timestamp (22 characters), then the id.
            assert!(
                segment.len() == 22 + 36 && segment.ends_with(&id.to_string()),
                "run {}: segment {segment} is not {id}'s",
                run.name
            );
        }
        assert_own_segment(run);
        run.child_runs.iter().for_each(|child| check(child, ancestors));
        ancestors.pop();
    }
    check(root, &mut Vec::new());
}

/// A tree with its ids and times left out, to compare trees made at different moments.
fn shape(tree: &RunTree) -> serde_json::Value {
    fn strip(run: &mut serde_json::Value) {
        if let Some(run) = run.as_object_mut() {
            for key in ["id", "trace_id", "parent_run_id", "dotted_order", "start_time", "end_time"] {
                run.remove(key);
            }
            for event in run["events"].as_array_mut().into_iter().flatten() {
                event.as_object_mut().map(|event| event.remove("time"));
            }
            run["child_runs"].as_array_mut().into_iter().flatten().for_each(strip);
        }
    }
    let mut value = serde_json::to_value(tree).unwrap();
    strip(&mut value);
    value
}

/// The tracer makes new runs of the buffers of trees it exported before: trees of other
/// shapes, then of the same shape, must come out exactly as a thread with nothing to reuse
/// makes them.
#[test]
fn trees_built_from_reused_buffers_carry_nothing_of_earlier_trees() -> TestResult {
    fn answer(callbacks: &CallbackManager, question: serde_json::Value, tags: &[&str]) -> Result<(), CallbackError> {
        let chain = callbacks.start_run(RunKind::Chain, "answer", &question)?;
        let tool =
            chain.get_child(None).with_tags(tags.iter().copied()).start_run(RunKind::Tool, "calculator", &"2+2")?;
        tool.on_text("adding")?;
        tool.end(&4)?;
        chain.end(&json!({ "answer": 4, "sure": true }))
    }
    type Request = fn(&CallbackManager) -> Result<(), CallbackError>;
    let requests: [Request; 4] = [
        |callbacks| answer(callbacks, json!({ "question": "2+2?", "lang": "en" }), &["math"]),
        |callbacks| callbacks.start_run(RunKind::Llm, "fake_llm", &json!({ "prompt": "hi" }))?.end(&"hello"),
        |callbacks| {
            let run = callbacks.start_run(RunKind::Chain, "answer", &json!({ "question": "?" }))?;
            run.fail(runtrace::event::RunError::new("no answer", runtrace::event::ErrorCause::Returned))
        },
        |callbacks| answer(callbacks, json!({ "question": "3+3?", "lang": "fr" }), &[]),
    ];
    let traced = |request: Request| -> Result<RunTree, CallbackError> {
        let collector = RunCollector::new();
        request(&CallbackManager::new().with_handler(Tracer::new(collector.clone())))?;
        Ok(collector.take().remove(0))
    };

    // On this thread, each tree after the first is made of the buffers of those before it.
    let reused: Vec<RunTree> = requests.iter().map(|request| traced(*request)).collect::<Result<_, _>>()?;
    for (request, tree) in requests.iter().zip(&reused) {
        let request = *request;
        let fresh = std::thread::spawn(move || traced(request)).join().expect("the request runs")?;
        assert_eq!(shape(tree), shape(&fresh));
        // `shape` leaves dotted orders out, as they hold ids and times: checked on their own.
        assert_dotted_orders_follow_ancestry(tree);
    }
    assert_eq!(reused[3].inputs["lang"], "fr");
    assert!(reused[3].child_runs[0].tags.is_empty());
    Ok(())
}

mod traced {
    use runtrace::prelude::*;

    #[traced_run(kind = "tool")]
    pub fn add(a: u32, b: u32) -> u32 {
        a + b
    }

    /// The keys of `add`, in the other order.
    #[traced_run(kind = "tool")]
    pub fn swap(b: u32, a: u32) -> (u32, u32) {
        (a, b)
    }

    /// As many keys as `add`, one of them another.
    #[traced_run(kind = "tool")]
    pub fn pair(a: u32, c: u32) -> u32 {
        a * c
    }

    #[traced_run(kind = "tool")]
    pub fn negate(a: u32) -> i64 {
        -i64::from(a)
    }

    #[traced_run(kind = "tool")]
    pub fn nothing() {}

    #[traced_run(kind = "llm", redact(api_key))]
    pub fn prompt(text: &str, api_key: &str, stop: Vec<&str>) -> String {
        let _ = (api_key, stop);
        text.to_uppercase()
    }

    #[traced_run(kind = "chain")]
    pub fn chain(a: u32, run: &RunManager) -> (u32, i64, String) {
        (add(a, 1, run), negate(a, run), prompt("hi", "secret", vec!["."], run))
    }
}

/// A traced call's arguments are written straight into the maps of the runs the tracer
/// exported before: calls of other functions (other keys, fewer, more, as many but other
/// ones, the same in another order, none), of the same one, and a handler after the tracer
/// that reads the inputs too, must all see exactly their own arguments, in their order.
#[test]
fn traced_calls_write_exactly_their_arguments_into_reused_maps() {
    let recorder = Arc::new(RecordingHandler::new());
    let collector = RunCollector::new();
    let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone())).with_handler(recorder.clone());

    let mut expected = Vec::new();
    for a in [1, 2] {
        traced::chain(a, &callbacks);
        traced::add(a, 10, &callbacks);
        traced::swap(20, a, &callbacks);
        traced::pair(a, 30, &callbacks);
        traced::negate(a, &callbacks);
        traced::nothing(&callbacks);
        expected.extend([
            json!(["chain", { "a": a }, { "output": [a + 1, -i64::from(a), "HI"] }, [
                ["add", { "a": a, "b": 1 }, { "output": a + 1 }, []],
                ["negate", { "a": a }, { "output": -i64::from(a) }, []],
                ["prompt", { "text": "hi", "api_key": "[REDACTED]", "stop": ["."] }, { "output": "HI" }, []],
            ]]),
            json!(["add", { "a": a, "b": 10 }, { "output": a + 10 }, []]),
            json!(["swap", { "b": 20, "a": a }, { "output": [a, 20] }, []]),
            json!(["pair", { "a": a, "c": 30 }, { "output": a * 30 }, []]),
            json!(["negate", { "a": a }, { "output": -i64::from(a) }, []]),
            json!(["nothing", {}, { "output": null }, []]),
        ]);
    }

    fn summary(run: &RunTree) -> serde_json::Value {
        json!([run.name, run.inputs, run.outputs, run.child_runs.iter().map(summary).collect::<Vec<_>>()])
    }
    let trees = collector.take();
    assert_eq!(trees.iter().map(summary).collect::<Vec<_>>(), expected);
    // Where serde_json keeps insertion order (`preserve_order`), the kept `{a, b}` map of
    // `add` must not lend its order to `swap`'s `{b, a}`.
    let mut probe = serde_json::Map::new();
    probe.insert("b".into(), json!(null));
    probe.insert("a".into(), json!(null));
    let swapped =
        if probe.keys().next().is_some_and(|key| key == "b") { r#"{"b":20,"a":1}"# } else { r#"{"a":1,"b":20}"# };
    assert_eq!(serde_json::to_string(&trees[2].inputs).unwrap(), swapped);
    // The recorder, after the tracer, got every run's inputs as well.
    let recorded: Vec<serde_json::Value> = recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            EventData::Start(start) => Some(json!([event.run.name, start.inputs.get()])),
            _ => None,
        })
        .collect();
    let from_trees: Vec<serde_json::Value> = trees
        .iter()
        .flat_map(|tree| std::iter::once(tree).chain(&tree.child_runs))
        .map(|run| json!([run.name, run.inputs]))
        .collect();
    assert_eq!(recorded, from_trees);
}

// --- Exporters -----------------------------------------------------------------------------

/// A tree using every field: tags, metadata, streamed events of each kind, a failed child,
/// non-object inputs and outputs.
fn rich_tree(callbacks: &CallbackManager) -> Result<(), CallbackError> {
    let callbacks = callbacks.clone().with_tags(["eval"]).with_metadata([("user", "ada")]);
    let agent = callbacks.start_run(RunKind::Agent, "agent", &json!({ "question": "What is 2+2?" }))?;
    agent.on_text("Thinking about 2+2")?;
    agent.on_agent_action(AgentAction::new("calculator", json!("2+2")).with_log("I should add."))?;
    let tool = agent.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    tool.on_retry(1, "the abacus slipped")?;
    tool.end(&json!({ "sum": 4 }))?;
    let flaky = agent.children().start_run(RunKind::Retriever, "docs", &["arithmetic"])?;
    flaky.error(&"index unavailable")?;
    let llm = agent.children().start_run(RunKind::ChatModel, "fake_chat", &"2+2=")?;
    llm.on_llm_new_token("4")?;
    llm.on_custom_event("progress", &json!({ "done": 1, "of": 1 }))?;
    llm.end(&"4")?;
    agent.on_agent_finish(AgentFinish::new(json!({ "answer": 4 })))?;
    agent.end(&4)
}

#[test]
fn jsonl_exporter_round_trips_the_trees_it_wrote() -> TestResult {
    let path = temp_path("round-trip");
    let collector = RunCollector::new();
    let tracer = Tracer::new((JsonlExporter::open(&path)?, collector.clone()));
    assert!(path.exists(), "the file is created when missing");
    let callbacks = CallbackManager::new().with_handler(&tracer);

    rich_tree(&callbacks)?;
    fake_llm("Say hello", &callbacks)?;

    let written = RunTree::read_jsonl(&path)?;
    assert_eq!(written, collector.trees());
    assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 2, "one root tree per line");

    let agent = &written[0];
    assert_eq!(agent.tags, ["eval"]);
    assert_eq!(agent.metadata["user"], "ada");
    let names: Vec<&str> = agent.events.iter().map(|event| event.name.as_str()).collect();
    assert_eq!(names, ["text", "agent_action", "agent_finish"]);
    assert_eq!(
        agent.child_runs.iter().map(|run| run.name.as_str()).collect::<Vec<_>>(),
        ["calculator", "docs", "fake_chat"]
    );
    let calculator = agent.find("calculator").unwrap();
    assert_eq!(calculator.inputs["input"], "2+2", "non-object inputs are wrapped");
    assert_eq!(calculator.outputs.as_ref().unwrap()["sum"], 4, "object outputs are kept as they are");
    assert_eq!(calculator.events[0].kwargs["attempt"], 1);
    let docs = agent.find("docs").unwrap();
    assert_eq!((docs.error.as_deref(), &docs.outputs), (Some("index unavailable"), &None));
    let chat = agent.find("fake_chat").unwrap();
    assert_eq!((chat.run_type, chat.token_count()), (RunKind::ChatModel, 1));
    assert_eq!(chat.events[1].name, "progress");

    // A second exporter on the same file appends.
    let again = Tracer::jsonl(&path)?;
    fake_llm("Say it again", &CallbackManager::new().with_handler(&again))?;
    let all = RunTree::read_jsonl(&path)?;
    assert_eq!(all.len(), 3);
    assert_eq!(all[..2], written[..]);
    assert_eq!(all[2].inputs["prompt"], "Say it again");
    std::fs::remove_file(&path)?;
    Ok(())
}

#[test]
fn run_trees_use_stable_langsmith_field_names() -> TestResult {
    let ((), trees) = collect_runs(|| {
        let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?").unwrap();
        chain.on_text("thinking").unwrap();
        chain.children().start_run(RunKind::Tool, "calculator", &"2+2").unwrap().end(&4).unwrap();
        chain.end(&"4").unwrap();
    });
    let json = serde_json::to_value(&trees[0])?;
    let mut fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "child_runs",
            "dotted_order",
            "end_time",
            "error",
            "events",
            "extra",
            "id",
            "inputs",
            "name",
            "outputs",
            "parent_run_id",
            "run_type",
            "start_time",
            "tags",
            "trace_id"
        ]
    );
    assert_eq!(json["run_type"], "chain");
    assert_eq!(json["extra"], json!({ "metadata": {} }));
    assert_eq!(json["inputs"], json!({ "input": "2+2?" }));
    assert_eq!(json["outputs"], json!({ "output": "4" }));
    assert_eq!(json["events"][0]["name"], "text");
    assert_eq!(json["events"][0]["kwargs"], json!({ "text": "thinking" }));
    let start = json["start_time"].as_str().unwrap();
    assert!(start.len() == 27 && start.ends_with('Z'), "RFC 3339 with microseconds: {start}");
    Ok(())
}

#[test]
fn metadata_usage_and_kinds_langsmith_has_no_name_for_sit_in_extra_metadata_and_read_back() -> TestResult {
    use runtrace::event::Usage;

    let ((), trees) = collect_runs(|| {
        let callbacks = CallbackManager::new().with_metadata([("user", "ada")]);
        let agent = callbacks.start_run(RunKind::Agent, "agent", &"2+2?").unwrap();
        let chat = agent.children().start_run(RunKind::ChatModel, "fake_chat", &"2+2?").unwrap();
        chat.report_usage(Usage::new(12, 3)).unwrap();
        chat.end(&"4").unwrap();
        agent.children().start_run(RunKind::Custom, "cache", &()).unwrap().end(&()).unwrap();
        agent.children().start_run(RunKind::Retriever, "docs", &()).unwrap().end(&()).unwrap();
        agent.end(&"4").unwrap();
    });
    let json = serde_json::to_value(&trees[0])?;
    assert_eq!(json["run_type"], "chain");
    assert_eq!(json["extra"]["metadata"], json!({ "user": "ada", "runtrace_kind": "agent" }));
    let chat = &json["child_runs"][0];
    assert_eq!(chat["run_type"], "llm");
    assert_eq!(chat["extra"]["metadata"]["runtrace_kind"], "chat_model");
    assert_eq!(
        chat["extra"]["metadata"]["usage_metadata"],
        json!({ "input_tokens": 12, "output_tokens": 3, "total_tokens": 15 })
    );
    assert!(chat.get("usage_metadata").is_none() && chat.get("metadata").is_none(), "no top-level copies");
    assert_eq!(
        (&json["child_runs"][1]["run_type"], &json["child_runs"][1]["extra"]["metadata"]["runtrace_kind"]),
        (&json!("chain"), &json!("custom"))
    );
    let retriever = &json["child_runs"][2];
    assert_eq!(
        (&retriever["run_type"], retriever["extra"]["metadata"].get("runtrace_kind")),
        (&json!("retriever"), None)
    );

    let read: RunTree = serde_json::from_value(json)?;
    assert_eq!(read, trees[0], "every field reads back, runtrace's kinds too");
    assert_eq!(read.child_runs[0].usage_metadata, Some(Usage::new(12, 3)));
    assert_eq!(read.metadata, serde_json::from_value::<serde_json::Map<_, _>>(json!({ "user": "ada" }))?);
    Ok(())
}

#[test]
fn jsonl_files_written_before_metadata_moved_to_extra_still_read() -> TestResult {
    use runtrace::event::Usage;

    // A line as runtrace 0.1 wrote it: top-level metadata and usage, runtrace kinds in run_type.
    let line = r#"{"id":"0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10","trace_id":"0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10","parent_run_id":null,"dotted_order":"20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10","name":"agent","run_type":"agent","start_time":"2024-05-06T07:08:09.123456Z","end_time":"2024-05-06T07:08:10.000000Z","inputs":{"input":"2+2?"},"outputs":{"output":"4"},"error":null,"tags":["eval"],"metadata":{"user":"ada"},"events":[],"child_runs":[{"id":"5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77","trace_id":"0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10","parent_run_id":"0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10","dotted_order":"20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10.20240506T070809123999Z5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77","name":"fake_chat","run_type":"chat_model","start_time":"2024-05-06T07:08:09.123999Z","end_time":"2024-05-06T07:08:09.500000Z","inputs":{"input":"2+2?"},"outputs":{"output":"4"},"error":null,"tags":[],"metadata":{"ls_model_name":"gpt-4o-mini"},"usage_metadata":{"input_tokens":12,"output_tokens":3,"total_tokens":15},"extra":{"time_to_first_token":0.1},"events":[],"child_runs":[]}]}"#;
    let trees = RunTree::from_jsonl(format!("{line}\n").as_bytes())?;
    let agent = &trees[0];
    assert_eq!(
        (agent.run_type, &agent.metadata["user"], &agent.tags[..]),
        (RunKind::Agent, &json!("ada"), &["eval".to_owned()][..])
    );
    let chat = &agent.child_runs[0];
    assert_eq!((chat.run_type, chat.usage_metadata), (RunKind::ChatModel, Some(Usage::new(12, 3))));
    assert_eq!(
        (&chat.metadata["ls_model_name"], &chat.extra["time_to_first_token"]),
        (&json!("gpt-4o-mini"), &json!(0.1))
    );
    assert!(!chat.extra.contains_key("metadata"));

    // Written again, it is in LangSmith's shape, and reads back the same.
    let json = serde_json::to_value(agent)?;
    assert_eq!((&json["run_type"], &json["extra"]["metadata"]["runtrace_kind"]), (&json!("chain"), &json!("agent")));
    assert_eq!(serde_json::from_value::<RunTree>(json)?, *agent);
    Ok(())
}

#[test]
fn trees_carry_the_tracers_project_and_a_project_from_the_headers_wins_for_that_trace() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone()).with_project("support-bot");
    let callbacks = CallbackManager::new().with_handler(&tracer);
    let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    let sent = TraceContext::from_run(&chain)?;
    assert_eq!(sent.project(), Some("support-bot"), "headers carry the tracer's project");
    chain.end(&"4")?;

    let evals = sent.clone().with_project("evals");
    let remote = CallbackManager::from(&TraceContext::from_headers(evals.to_headers())?).with_handler(&tracer);
    let tool = remote.start_run(RunKind::Chain, "serve", &())?;
    tool.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    assert_eq!(TraceContext::from_run(&tool)?.project(), Some("evals"), "passed on as it came");
    tool.end(&())?;
    let unnamed = CallbackManager::from(&TraceContext::from_dotted_order(sent.dotted_order())?).with_handler(&tracer);
    unnamed.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;

    let trees = collector.take();
    let projects = |tree: &RunTree| tree.runs().map(|run| run.session_name.clone()).collect::<Vec<_>>();
    assert_eq!(projects(&trees[0]), [Some("support-bot".to_owned()), Some("support-bot".to_owned())]);
    assert_eq!(projects(&trees[1]), [Some("evals".to_owned()), Some("evals".to_owned())]);
    assert_eq!(projects(&trees[2]), [Some("support-bot".to_owned())], "headers naming none: the tracer's");
    assert_eq!(serde_json::to_value(&trees[1])?["session_name"], "evals");

    let ((), unnamed) = collect_runs(|| fake_llm("hi", CallbackManager::none()).map(drop).unwrap());
    assert_eq!(unnamed[0].session_name, None);
    assert!(serde_json::to_value(&unnamed[0])?.get("session_name").is_none(), "no project, no field");
    Ok(())
}

#[test]
fn a_tree_is_exported_once_however_often_the_tracer_is_added() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let callbacks = CallbackManager::new().with_handler(&tracer).with_handler(tracer.clone());
    tracer.in_scope(|| fake_llm("hi", &callbacks))?;
    assert_eq!(callbacks.handlers().len(), 1);
    assert_eq!(collector.len(), 1);
    assert_eq!(collector.trees()[0].events.len(), 2);
    Ok(())
}

// --- collect_runs --------------------------------------------------------------------------

#[test]
fn collect_runs_returns_exactly_the_root_of_the_call_with_its_prompt() -> TestResult {
    fake_llm("before", CallbackManager::none())?;
    let (answer, trees) = collect_runs(|| fake_llm("Say hello", CallbackManager::none()));
    fake_llm("after", CallbackManager::none())?;

    assert_eq!(answer?, "Hello");
    assert_eq!(trees.len(), 1);
    let root = &trees[0];
    assert_eq!((root.name.as_str(), root.run_type, root.parent_run_id), ("fake_llm", RunKind::Llm, None));
    assert_eq!(root.inputs["prompt"], "Say hello");
    assert_eq!(root.outputs.as_ref().unwrap()["output"], "Hello");
    assert_eq!(root.token_count(), 2);
    Ok(())
}

#[test]
fn collect_runs_adds_to_request_callbacks_without_replacing_them() -> TestResult {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let (answer, trees) = collect_runs(|| fake_llm("Say hello", &callbacks));
    assert_eq!(answer?, "Hello");
    assert_eq!(trees.len(), 1);
    assert_eq!(recorder.len(), 4, "the request's own handler still hears every event");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_collect_runs_each_get_their_own_roots() -> TestResult {
    async fn ask(question: &'static str) -> Result<(), CallbackError> {
        let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &json!({ "question": question }))?;
        for _ in 0..10 {
            tokio::task::yield_now().await;
            fake_llm(question, chain.children())?;
        }
        chain.end(&"Hello")
    }
    // Two scopes polled by one task, and a third on another task, all interleaved.
    let other = tokio::spawn(collect_runs_async(ask("third")));
    let ((first, first_trees), (second, second_trees)) =
        tokio::join!(collect_runs_async(ask("first")), collect_runs_async(ask("second")));
    let (third, third_trees) = other.await?;
    first?;
    second?;
    third?;
    for (trees, question) in [(first_trees, "first"), (second_trees, "second"), (third_trees, "third")] {
        assert_eq!(trees.len(), 1, "{question}");
        assert_eq!(trees[0].inputs["question"], question);
        assert_eq!(trees[0].child_runs.len(), 10);
        assert!(trees[0].child_runs.iter().all(|llm| llm.inputs["prompt"] == question));
    }
    Ok(())
}

// --- "Trace this block" ----------------------------------------------------------------------

#[test]
fn block_scope_traces_root_runs_inside_and_none_outside() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());

    fake_llm("outside, before", CallbackManager::none())?;
    tracer.in_scope(|| -> Result<(), CallbackError> {
        fake_llm("inside", CallbackManager::none())?;
        // A thread spawned inside is not covered, unless handed the scope's callbacks.
        let callbacks = scoped_callbacks();
        std::thread::scope(|threads| {
            threads.spawn(|| fake_llm("other thread, by itself", CallbackManager::none()));
            threads.spawn(|| fake_llm("other thread, handed the callbacks", &callbacks));
        });
        Ok(())
    })?;
    fake_llm("outside, after", CallbackManager::none())?;

    let mut prompts: Vec<String> =
        collector.trees().iter().map(|tree| tree.inputs["prompt"].as_str().unwrap_or_default().to_owned()).collect();
    prompts.sort();
    assert_eq!(prompts, ["inside", "other thread, handed the callbacks"]);
    assert!(scoped_callbacks().is_empty(), "no scope is left behind");
    Ok(())
}

#[test]
fn block_scope_ends_even_when_the_block_panics() {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tracer.in_scope(|| panic!("the block failed"))));
    assert!(panicked.is_err());
    fake_llm("after the panic", CallbackManager::none()).unwrap();
    assert!(collector.is_empty());
}

#[test]
fn nested_scopes_all_see_the_root_and_only_roots_get_the_tracer() -> TestResult {
    let outer = RunCollector::new();
    let (answered, inner) = Tracer::new(outer.clone()).in_scope(|| {
        collect_runs(|| {
            // Only the root gets the scopes' tracers; its child is traced by inheritance.
            let recorder = Arc::new(RecordingHandler::new());
            let chain =
                CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "answer", &"q")?;
            fake_llm("nested", chain.children())?;
            chain.end(&"a")?;
            assert_eq!(recorder.runs().len(), 2);
            Ok::<_, CallbackError>(())
        })
    });
    answered?;
    assert_eq!(inner.len(), 1);
    assert_eq!(outer.trees(), inner);
    assert_eq!(inner[0].child_runs[0].inputs["prompt"], "nested");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_block_scope_reaches_spawned_tasks_only_when_handed_over() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());

    tracer
        .scope(async {
            let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"q")?;
            tokio::task::yield_now().await;

            // Not reached: a new task starts with no scope.
            tokio::spawn(async { fake_llm("spawned, by itself", CallbackManager::none()) }).await??;
            // Reached: the parent run moved into the task.
            let run = chain.run().clone();
            tokio::spawn(async move { fake_llm("spawned, handed the parent run", run.children()) }).await??;
            // Reached: the scope's callbacks moved into the task.
            let callbacks = scoped_callbacks();
            tokio::spawn(async move { fake_llm("spawned, handed the callbacks", &callbacks) }).await??;
            // Reached: the spawned future wrapped in the scope again.
            tokio::spawn(tracer.scope(async { fake_llm("spawned, in the scope", CallbackManager::none()) })).await??;

            chain.end(&"a")?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .await?;
    fake_llm("outside", CallbackManager::none())?;

    let trees = collector.trees();
    let mut roots: Vec<&str> = trees.iter().map(|tree| tree.name.as_str()).collect();
    roots.sort_unstable();
    assert_eq!(roots, ["answer", "fake_llm", "fake_llm"]);
    let answer = trees.iter().find(|tree| tree.name == "answer").unwrap();
    assert_eq!(answer.child_runs.len(), 1);
    assert_eq!(answer.child_runs[0].inputs["prompt"], "spawned, handed the parent run");
    let mut prompts: Vec<&str> = trees
        .iter()
        .filter(|tree| tree.name == "fake_llm")
        .map(|tree| tree.inputs["prompt"].as_str().unwrap())
        .collect();
    prompts.sort_unstable();
    assert_eq!(prompts, ["spawned, handed the callbacks", "spawned, in the scope"]);
    Ok(())
}

// --- RUNTRACE_TRACE --------------------------------------------------------------------------

#[test]
fn env_opt_in_traces_root_runs_to_the_named_file() -> TestResult {
    let path = temp_path("env");
    let moved = temp_path("env-moved");
    // The variable is read once per process, so the traced program is this test binary
    // run again, for the one test below, named by its path in this binary.
    let child = concat!(module_path!(), "::env_opt_in_child");
    let child = child.split_once("::").map_or(child, |(_crate, path)| path);
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([child, "--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .env(Tracer::TRACE_ENV, &path)
        .env("RUNTRACE_TEST_MOVED_PATH", &moved)
        .env("LANGSMITH_PROJECT", "env-traced")
        .env("LANGCHAIN_PROJECT", "the-older-name")
        .output()?;
    assert!(output.status.success(), "child failed:\n{}", String::from_utf8_lossy(&output.stdout));

    let trees = RunTree::read_jsonl(&path)?;
    let names: Vec<&str> = trees.iter().map(|tree| tree.name.as_str()).collect();
    assert_eq!(names, ["answer", "fake_llm"]);
    assert_eq!(trees[0].child_runs[0].name, "calculator");
    assert_eq!(trees[0].inputs["question"], "What is 2+2?");
    assert!(
        trees.iter().all(|tree| tree.session_name.as_deref() == Some("env-traced")),
        "LANGSMITH_PROJECT names the project, over LANGCHAIN_PROJECT"
    );
    assert!(!moved.exists(), "the variable was read once, at the first run");
    std::fs::remove_file(&path)?;
    Ok(())
}

#[test]
#[ignore = "the traced program of env_opt_in_traces_root_runs_to_the_named_file, which runs it"]
fn env_opt_in_child() -> TestResult {
    let Some(moved) = std::env::var_os("RUNTRACE_TEST_MOVED_PATH") else {
        return Ok(());
    };
    // No tracer anywhere in the code: the environment adds it to the root.
    let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &json!({ "question": "What is 2+2?" }))?;
    chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    chain.end(&"4")?;
    // SAFETY: this process runs this one test on one thread, and nothing else reads the
    // environment while it is changed.
    unsafe { std::env::set_var(Tracer::TRACE_ENV, moved) };
    fake_llm("still the first file", CallbackManager::none())?;
    Ok(())
}

// --- Runs the tracer cannot place ------------------------------------------------------------

#[test]
fn a_run_whose_parent_the_tracer_never_saw_becomes_a_root() -> TestResult {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let recorder = Arc::new(RecordingHandler::new());
    let outer = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "outer", &())?;

    // The tracer joins below the root, for a component's runs and everything nested in them.
    let component = outer.get_child(None).with_handler(&tracer);
    let inner = component.start_run(RunKind::Chain, "component", &())?;
    assert_eq!(inner.parent_run_id(), outer.run_id());
    fake_llm("deep", inner.children())?;
    inner.end(&())?;
    outer.end(&())?;

    let trees = collector.trees();
    assert_eq!(trees.len(), 1);
    let root = &trees[0];
    assert_eq!((root.name.as_str(), root.parent_run_id, root.trace_id), ("component", None, root.id));
    assert_eq!(root.dotted_order.split('.').count(), 1);
    assert_own_segment(root);
    let llm = &root.child_runs[0];
    assert_eq!((llm.parent_run_id, llm.trace_id), (Some(root.id), root.id));
    assert!(llm.dotted_order.starts_with(&root.dotted_order));
    assert_eq!(tracer.open_runs(), 0);
    Ok(())
}

/// A tree is final when its root ends, not when a run's parent does: a run that outlives
/// its parent, or starts under it after it ended, still lands under it.
#[test]
fn runs_ending_or_starting_after_their_parent_ended_stay_under_it_until_the_root_ends() -> TestResult {
    use tracing_subscriber::layer::SubscriberExt;

    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let collector = RunCollector::new();
    tracing::subscriber::with_default(subscriber, || -> TestResult {
        let tracer = Tracer::new(collector.clone());
        let root = CallbackManager::new().with_handler(&tracer).start_run(RunKind::Chain, "agent", &())?;
        let planner = root.children().start_run(RunKind::Chain, "planner", &())?;
        let search = planner.children().start_run(RunKind::Retriever, "search", &"2+2")?;
        let planner_run = planner.run().clone();
        planner.end(&"plan")?;

        search.on_text("found it")?;
        search.end(&["arithmetic"])?;
        planner_run.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
        assert_eq!(collector.len(), 0, "nothing is exported before the root ends");
        root.end(&4)?;
        assert_eq!(tracer.open_runs(), 0);
        Ok(())
    })?;
    assert!(warnings.0.lock().unwrap().is_empty(), "{:?}", warnings.0.lock().unwrap());

    let trees = collector.trees();
    assert_eq!(trees.len(), 1, "the late runs are not exported as roots of their own");
    let root = &trees[0];
    let planner = &root.child_runs[0];
    let names: Vec<&str> = planner.child_runs.iter().map(|run| run.name.as_str()).collect();
    assert_eq!((root.child_runs.len(), planner.name.as_str(), names), (1, "planner", vec!["search", "calculator"]));
    let (search, calculator) = (&planner.child_runs[0], &planner.child_runs[1]);
    assert!(search.end_time.is_some() && search.end_time > planner.end_time, "its end time is its own");
    assert_eq!(search.outputs.as_ref().unwrap()["output"], json!(["arithmetic"]));
    assert_eq!((search.events.len(), &search.events[0].kwargs["text"]), (1, &json!("found it")));
    assert!(calculator.start_time > planner.end_time.unwrap());
    assert_eq!(calculator.outputs.as_ref().unwrap()["output"], 4);
    for run in [search, calculator] {
        assert_eq!((run.parent_run_id, run.trace_id), (Some(planner.id), root.id));
    }
    assert_dotted_orders_follow_ancestry(root);
    Ok(())
}

/// Collects the `tracing` warnings of the current thread.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[test]
fn events_for_a_run_that_ended_or_left_with_its_tree_are_reported_not_panicked_on() -> TestResult {
    use tracing_subscriber::layer::SubscriberExt;

    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    tracing::subscriber::with_default(subscriber, || -> TestResult {
        let collector = RunCollector::new();
        let tracer = Tracer::new(collector.clone());
        let callbacks = CallbackManager::new().with_handler(&tracer);
        let chain = callbacks.start_run(RunKind::Chain, "answer", &"q")?;
        let calculator = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
        let calculator_run = calculator.run().clone();
        calculator.end(&4)?;
        calculator_run.on_text("after its own end")?;
        let detached = chain.children().start_run(RunKind::Tool, "background_job", &())?;
        chain.end(&"a")?; // the root ends while its child still runs

        let trees = collector.trees();
        assert!(trees[0].child_runs[0].events.is_empty(), "a run's events after its end are dropped");
        let child = &trees[0].child_runs[1];
        assert_eq!((child.name.as_str(), child.end_time, &child.outputs), ("background_job", None, &None));
        assert_eq!(tracer.open_runs(), 0, "the tree left memory with its root");

        // The child's later events are for a run the tracer no longer holds.
        detached.on_text("still working")?;
        detached.end(&"done")?;
        assert_eq!(collector.len(), 1);
        Ok(())
    })?;
    let warnings = warnings.0.lock().unwrap();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("already ended") && warnings[0].contains("`text` event"), "{warnings:?}");
    assert!(warnings[1..].iter().all(|warning| warning.contains("does not hold")), "{warnings:?}");
    assert!(warnings[2].contains("`end` event"), "{warnings:?}");
    Ok(())
}

/// Regression: a scope used to reach only runs with no parent, so `collect_runs` inside a
/// traced parent returned nothing when the request had handlers of its own.
#[test]
fn collect_runs_inside_a_traced_parent_collects_the_runs_started_in_it() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let parent = callbacks.start_run(RunKind::Chain, "outer", &())?;
    let parent_id = parent.run_id();

    let (ended, trees) = collect_runs(|| parent.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4));
    ended?;
    parent.end(&())?;

    assert_eq!(trees.len(), 1, "the tool run is a root of the scope's trees");
    assert_eq!((trees[0].name.as_str(), trees[0].parent_run_id), ("calculator", None));
    assert_ne!(Some(trees[0].id), parent_id);
    assert_eq!(recorder.runs().len(), 2, "the request's own handler still saw both runs");
    Ok(())
}
