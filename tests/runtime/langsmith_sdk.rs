//! runtrace against LangSmith's own Python SDK (`tests/langsmith/*.py`): the trees it writes
//! are kept whole by the SDK's run models, and its trace headers join traces both ways. Run
//! by `.ci/run` with `--ignored`, where the SDK is installed (see `sdk`).

use std::path::PathBuf;

use runtrace::event::{ModelRequest, ModelResponse, Usage};
use runtrace::propagation::TraceContext;
use runtrace::tracer::{JsonlExporter, Tracer};
use runtrace::{CallbackManager, RunKind};
use serde_json::{Value, json};

use crate::common::with_warnings;
use crate::sdk;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/langsmith").join(name)
}

/// Every kind of run, model data, events, an error, a project, a run joined from headers and
/// a trace cut into pieces by the depth limit.
fn write_rich_trees(tracer: &Tracer) -> TestResult {
    let callbacks = CallbackManager::new().with_handler(tracer).with_tags(["eval"]).with_metadata([("user", "ada")]);
    let agent = callbacks.start_run(RunKind::Agent, "agent", &json!({ "question": "What is 2+2?" }))?;
    agent.on_text("thinking")?;
    let chat = agent.children().start_model_run(RunKind::ChatModel, "fake_chat", &"2+2?", &|| {
        ModelRequest::new("gpt-4o-mini").with_provider("openai").with_param("temperature", 0.0)
    })?;
    chat.on_llm_new_token("4")?;
    chat.report_usage(Usage::new(12, 3))?;
    chat.report_response(ModelResponse::new().with_model("gpt-4o-mini-2024-07-18"));
    chat.end(&"4")?;
    let tool = agent.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    tool.on_retry(1, "timeout")?;
    tool.end(&json!({ "sum": 4 }))?;
    agent.children().start_run(RunKind::Retriever, "docs", &"2+2")?.error("index unavailable")?;
    agent.children().start_run(RunKind::Custom, "cache", &())?.end(&())?;
    agent.children().start_run(RunKind::Embedding, "embed", &["2+2"])?.end(&[[0.1, 0.2]])?;
    agent.children().start_run(RunKind::Parser, "parse", &"4")?.end(&4)?;
    agent.children().start_run(RunKind::Prompt, "prompt", &"{q}")?.end(&"2+2?")?;
    agent.on_custom_event("progress", &json!({ "done": 1 }))?;
    let remote = TraceContext::from_run(&agent)?.with_project("evals");
    agent.end(&"4")?;

    let served = CallbackManager::from(&TraceContext::from_headers(remote.to_headers())?).with_handler(tracer);
    served.start_run(RunKind::Llm, "fake_llm", &"2+2?")?.end(&"4")?;

    let mut runs = vec![callbacks.start_run(RunKind::Chain, "level-0", &0)?];
    for level in 1..5 {
        let next = runs[level - 1].children().start_run(RunKind::Chain, "level", &level)?;
        runs.push(next);
    }
    for run in runs.into_iter().rev() {
        run.end(&())?;
    }
    Ok(())
}

#[test]
#[ignore = "needs LangSmith's Python SDK: run by .ci/run"]
fn langsmith_sdk_run_models_keep_every_field_of_runtrace_trees() -> TestResult {
    let path = std::env::temp_dir().join(format!("runtrace-langsmith-sdk-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let tracer = Tracer::new(JsonlExporter::open(&path)?).with_project("runtrace-ci").with_max_tree_depth(3);
    write_rich_trees(&tracer)?;
    let path_text = path.to_str().ok_or("a temporary path in UTF-8")?;
    let report = sdk::run_script(&script("check_runs.py"), &[path_text], b"", &[]);
    std::fs::remove_file(&path)?;
    let report = report?;
    println!("{report}");
    assert!(report.contains("4 trees, 14 runs"), "every run was checked: {report}");
    Ok(())
}

/// What the SDK read from runtrace's headers, and the headers of the child it started.
fn through_the_sdk(headers: &[(&'static str, String)], child_metadata: &Value) -> Result<Value, String> {
    let headers: serde_json::Map<String, Value> =
        headers.iter().map(|(name, value)| ((*name).to_owned(), Value::String(value.clone()))).collect();
    let request = json!({ "headers": headers, "child_metadata": child_metadata });
    let answer = sdk::run_script(&script("headers.py"), &[], request.to_string().as_bytes(), &[])?;
    serde_json::from_str(&answer).map_err(|error| format!("{error}: {answer}"))
}

#[test]
#[ignore = "needs LangSmith's Python SDK: run by .ci/run"]
fn trace_headers_join_traces_both_ways_with_the_langsmith_sdk() -> TestResult {
    let tracer = Tracer::new(runtrace::tracer::RunCollector::new()).with_project("evals, 2024 ✓");
    let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(["eval", "prod"]).with_metadata([
        ("user", json!("ada")),
        ("note", json!("50% off, ünïcode ✓")),
        ("attempt", json!(2)),
    ]);
    let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    let sent = TraceContext::from_run(&tool)?;

    let answer = through_the_sdk(&sent.to_headers(), &json!({ "lang": "python" }))?;
    let parent = &answer["parent"];
    assert_eq!(parent["id"], tool.run_id().map(|id| id.to_string()).unwrap_or_default());
    assert_eq!(parent["trace_id"], chain.run_id().map(|id| id.to_string()).unwrap_or_default());
    assert_eq!(parent["parent_run_id"], chain.run_id().map(|id| id.to_string()).unwrap_or_default());
    assert_eq!(parent["dotted_order"], sent.dotted_order());
    assert_eq!(parent["tags"], json!(["eval", "prod"]));
    assert_eq!(parent["metadata"], json!({ "user": "ada", "note": "50% off, ünïcode ✓", "attempt": 2 }));
    assert_eq!(parent["project"], "evals, 2024 ✓");

    // Back: the SDK's child, read by runtrace, is the parent of runs here.
    let child = &answer["child"];
    let headers: Vec<(String, String)> = child["headers"]
        .as_object()
        .ok_or("the SDK's headers")?
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let received = TraceContext::from_headers(headers)?;
    assert_eq!(received.run_id().to_string(), child["id"].as_str().unwrap_or_default());
    assert_eq!(received.trace_id(), chain.run_id().ok_or("a recorded chain")?);
    assert_eq!(received.parent_run_id(), tool.run_id());
    assert_eq!(received.dotted_order(), child["dotted_order"].as_str().unwrap_or_default());
    assert_eq!(received.project(), Some("evals, 2024 ✓"));
    assert_eq!(received.metadata()["lang"], "python");
    tool.end(&4)?;
    chain.end(&"4")?;
    Ok(())
}

#[test]
#[ignore = "needs LangSmith's Python SDK: run by .ci/run"]
fn oversized_baggage_from_either_side_still_joins_the_trace() -> TestResult {
    let tracer = Tracer::new(runtrace::tracer::RunCollector::new());
    let big = "x".repeat(12 * 1024);
    let callbacks =
        CallbackManager::new().with_handler(&tracer).with_metadata([("user", "ada"), ("blob", big.as_str())]);
    let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    let (headers, warnings) = with_warnings(|| TraceContext::from_run(&chain).map(|context| context.to_headers()));
    let headers = headers?;
    assert!(warnings.iter().any(|warning| warning.message.contains("blob")), "{warnings:?}");

    // runtrace left the blob out; the SDK reads the rest, and writes a 12 KB one back.
    let answer = through_the_sdk(&headers, &json!({ "blob": big }))?;
    assert_eq!(answer["parent"]["metadata"], json!({ "user": "ada" }));
    let headers: Vec<(String, String)> = answer["child"]["headers"]
        .as_object()
        .ok_or("the SDK's headers")?
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect();
    let (received, warnings) = with_warnings(|| TraceContext::from_headers(headers));
    let received = received?;
    assert_eq!(received.trace_id(), chain.run_id().ok_or("a recorded chain")?, "the trace is joined");
    assert!(received.metadata().is_empty(), "the oversized member was skipped");
    assert!(!warnings.is_empty(), "with a warning");
    chain.end(&"4")?;
    Ok(())
}
