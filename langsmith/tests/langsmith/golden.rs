//! Golden payloads: the runs of a tree, sent by runtrace's exporter and by LangSmith's own
//! Python SDK (`tests/langsmith/golden.py`), each to a loopback stand-in, make the same
//! multipart request, part by part. Run by `.ci/run` with `--ignored`.

use std::path::PathBuf;
use std::time::Duration;

use runtrace::event::{ModelRequest, Usage};
use runtrace::tracer::{RunCollector, Tracer};
use runtrace::{CallbackManager, RunKind};
use runtrace_langsmith::LangSmithExporter;
use serde_json::json;

use crate::capture::Capture;
use crate::sdk;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs LangSmith's Python SDK: run by .ci/run"]
async fn runtraces_ingest_request_is_the_one_the_langsmith_sdk_makes_for_the_same_runs() -> TestResult {
    sdk::python()?;
    let capture = Capture::start(Some(json!({ "use_multipart_endpoint": true })), []).await;
    let langsmith = LangSmithExporter::builder().with_endpoint(&capture.url).with_api_key("lsv2_golden").build()?;
    let collector = RunCollector::new();
    let tracer = Tracer::new((langsmith.clone(), collector.clone())).with_project("golden");
    let callbacks = CallbackManager::new().with_handler(&tracer).with_tags(["eval"]).with_metadata([("user", "ada")]);

    let agent = callbacks.start_run(RunKind::Agent, "agent", &json!({ "question": "What is 2+2?" }))?;
    agent.on_text("thinking")?;
    let chat = agent.children().start_model_run(RunKind::ChatModel, "fake_chat", &"2+2?", &|| {
        ModelRequest::new("gpt-4o-mini").with_provider("openai").with_param("temperature", 0.0)
    })?;
    chat.on_llm_new_token("4")?;
    chat.report_usage(Usage::new(12, 3))?;
    chat.end(&"4")?;
    agent.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&json!({ "sum": 4 }))?;
    agent.children().start_run(RunKind::Retriever, "docs", &"2+2")?.error("index unavailable")?;
    agent.end(&"4")?;
    if !langsmith.flush_blocking(Duration::from_secs(20)) {
        return Err("runtrace's request was not sent".into());
    }

    let request = capture.ingests().pop().ok_or("runtrace's request")?;
    let dir = std::env::temp_dir();
    let trees = dir.join(format!("runtrace-golden-{}.jsonl", std::process::id()));
    let sent = dir.join(format!("runtrace-golden-{}.json", std::process::id()));
    let lines: Vec<String> = collector.trees().iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    std::fs::write(&trees, lines.join("\n") + "\n")?;
    let body = String::from_utf8(request.body.clone())?;
    std::fs::write(
        &sent,
        json!({ "path": request.path, "content_type": request.header("content-type"), "body": body }).to_string(),
    )?;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/langsmith/golden.py");
    let paths = [trees.to_str().ok_or("UTF-8 path")?.to_owned(), sent.to_str().ok_or("UTF-8 path")?.to_owned()];
    let report =
        tokio::task::spawn_blocking(move || sdk::run_script(&script, &[&paths[0], &paths[1]], b"", &[])).await?;
    std::fs::remove_file(&trees)?;
    std::fs::remove_file(&sent)?;
    let report = report?;
    println!("{report}");
    assert!(report.contains("4 runs, 20 parts: identical"), "{report}");
    Ok(())
}
