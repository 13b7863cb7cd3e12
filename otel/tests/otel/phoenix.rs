//! End to end against a real Arize Phoenix: runs like the quickstart's and the agent's are
//! exported over OTLP/HTTP, then read back through Phoenix's REST API
//! (`GET /v1/projects/{project}/spans`).
//!
//! It needs a running Phoenix, so it is ignored by a plain `cargo test`, which says so; `.ci/run`
//! starts Phoenix on loopback and runs it with `--ignored`, and there it fails when Phoenix is
//! missing. By hand:
//!
//! ```sh
//! python3 -m venv .venv && .venv/bin/pip install arize-phoenix
//! PHOENIX_HOST=127.0.0.1 PHOENIX_TELEMETRY_ENABLED=false .venv/bin/phoenix serve &
//! RUNTRACE_PHOENIX_URL=http://127.0.0.1:6006 cargo test -p runtrace-otel --test otel -- --ignored phoenix
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use runtrace::event::{AgentAction, AgentFinish, Usage};
use runtrace::handlers::RecordingHandler;
use runtrace::prelude::*;
use runtrace::{EventData, RunId};
use runtrace_otel::{OtelHandler, span_id_of, trace_id_of};
use serde_json::Value;

use crate::common::{answer, calculator};

const URL_ENV: &str = "RUNTRACE_PHOENIX_URL";

/// Phoenix's base URL; the test fails without one rather than pass having checked nothing.
fn phoenix_url() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!("{URL_ENV} names no Arize Phoenix: start one (see this file's header or the README) and set it"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the search index is down")]
struct SearchDown;

#[traced_run(kind = "tool")]
fn search(query: String) -> Result<String, SearchDown> {
    let _ = query;
    Err(SearchDown)
}

#[traced_run(kind = "chat_model", model = "fake-chat-1", provider = "runtrace")]
async fn fake_chat(messages: Vec<String>, run: &RunManager) -> Result<String, CallbackError> {
    let reply = match messages.iter().find_map(|m| m.strip_prefix("Observation: ")) {
        Some(observation) => format!("Final Answer: {observation}"),
        None => "Action: calculator[12 + 30]".to_owned(),
    };
    for token in reply.split_inclusive(' ') {
        run.on_llm_new_token(token)?;
    }
    run.report_usage(Usage::new(20 * messages.len() as u64, reply.split(' ').count() as u64))?;
    Ok(reply)
}

#[traced_run(kind = "agent")]
async fn agent(question: String, run: &RunManager) -> Result<String, CallbackError> {
    let mut messages = vec![question];
    loop {
        let reply = fake_chat(messages.clone(), run).await?;
        if let Some(answer) = reply.strip_prefix("Final Answer: ") {
            run.on_agent_finish(AgentFinish::new(answer.into()))?;
            return Ok(answer.to_owned());
        }
        run.on_agent_action(AgentAction::new("calculator", "12 + 30".into()))?;
        messages.push(format!("Observation: {}", calculator("12 + 30".into(), run)));
    }
}

/// The spans of `project` in the Phoenix at `url`, once it holds at least `expected` of them
/// or a minute has passed: Phoenix ingests in the background.
pub(crate) async fn spans_of(client: &reqwest::Client, url: &str, project: &str, expected: usize) -> Vec<Value> {
    let spans_url = format!("{url}/v1/projects/{project}/spans?limit=1000");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client.get(&spans_url).send().await.ok();
        let page = match answer {
            Some(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        let spans = page.and_then(|page| page["data"].as_array().cloned()).unwrap_or_default();
        if spans.len() >= expected || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A span's attribute, whether Phoenix gives attributes flat (`"llm.model_name"`) or nested.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attributes = &span["attributes"];
    attributes.get(key).or_else(|| key.split('.').try_fold(attributes, |value, part| value.get(part)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Arize Phoenix at RUNTRACE_PHOENIX_URL: .ci/run starts one and runs this"]
async fn runs_arrive_in_phoenix_as_spans_with_their_tree_kinds_models_and_errors() {
    let url = phoenix_url();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let health = client.get(format!("{url}/healthz")).send().await;
    assert!(health.is_ok_and(|r| r.status().is_success()), "Phoenix at {url} is not reachable ({URL_ENV})");

    let project = format!("runtrace-e2e-{}", RunId::random());
    // Phoenix takes OTLP/HTTP as protobuf only (JSON gets 415).
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/traces"))
        .build()
        .expect("an OTLP/HTTP exporter");
    let otel = OtelHandler::builder(exporter).with_project(&project).with_message_content(true).build();
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = otel.callbacks().with_handler(recorder.clone());

    let quickstart = answer("What is 2 + 2?".into(), &callbacks).expect("the quickstart answers");
    let agent_answer = agent("What is 12 + 30?".into(), &callbacks).await.expect("the agent answers");
    assert!(search("who wrote Dune".into(), &callbacks).is_err());
    otel.flush().await;
    let runs = recorder.runs();
    assert_eq!(runs.len(), 3 + 4 + 1);
    assert_eq!(otel.exported_spans(), runs.len() as u64, "dropped {}", otel.dropped_spans());

    let spans = spans_of(&client, &url, &project, runs.len()).await;
    assert_eq!(spans.len(), runs.len(), "one span per run in project {project}: {spans:#?}");
    let by_span_id: HashMap<String, &Value> =
        spans.iter().map(|span| (span["context"]["span_id"].as_str().unwrap_or_default().to_owned(), span)).collect();

    for run in &runs {
        let span = by_span_id
            .get(&span_id_of(run.run_id).to_string())
            .unwrap_or_else(|| panic!("run {} ({}) is in Phoenix", run.name, run.run_id));
        assert_eq!(span["context"]["trace_id"], trace_id_of(run.trace_id).to_string(), "{}", run.name);
        let parent = run.parent_run_id.map(|parent| span_id_of(parent).to_string());
        assert_eq!(span["parent_id"].as_str().map(str::to_owned), parent, "{}'s parent", run.name);
        let kind = match run.kind {
            RunKind::ChatModel => "LLM",
            RunKind::Tool => "TOOL",
            RunKind::Agent => "AGENT",
            _ => "CHAIN",
        };
        assert_eq!(span["span_kind"], kind, "{}", run.name);
    }

    let named = |name: &'static str| spans.iter().filter(move |span| span["name"] == name);
    let root = named("answer").next().expect("the quickstart's chain");
    assert_eq!(root["status_code"], "OK");
    assert_eq!(attribute(root, "output.value").and_then(Value::as_str), Some(quickstart.as_str()));
    let inputs: Value = serde_json::from_str(attribute(root, "input.value").and_then(Value::as_str).unwrap()).unwrap();
    assert_eq!(inputs["question"], "What is 2 + 2?");

    let llm = named("chat gpt-4o-mini-2024-07-18").next().expect("the quickstart's model call");
    assert_eq!(attribute(llm, "llm.model_name").and_then(Value::as_str), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(attribute(llm, "llm.token_count.prompt").and_then(Value::as_i64), Some(12));
    assert_eq!(attribute(llm, "llm.token_count.completion").and_then(Value::as_i64), Some(3));
    assert_eq!(attribute(llm, "llm.token_count.total").and_then(Value::as_i64), Some(15));
    let tokens =
        llm["events"].as_array().map_or(0, |events| events.iter().filter(|e| e["name"] == "new_token").count());
    assert_eq!(tokens, 3);

    let agent_span = named("invoke_agent agent").next().expect("the agent");
    assert_eq!(attribute(agent_span, "output.value").and_then(Value::as_str), Some(agent_answer.as_str()));
    let chats: Vec<&Value> = named("chat fake-chat-1").collect();
    assert_eq!(chats.len(), 2);
    assert!(chats.iter().all(|chat| attribute(chat, "llm.provider").and_then(Value::as_str) == Some("runtrace")));
    let prompts: Vec<i64> =
        chats.iter().filter_map(|c| attribute(c, "llm.token_count.prompt").and_then(Value::as_i64)).collect();
    assert_eq!(
        {
            let mut p = prompts;
            p.sort();
            p
        },
        [20, 40]
    );

    let failed = named("execute_tool search").next().expect("the failing tool");
    assert_eq!(failed["status_code"], "ERROR");
    assert_eq!(failed["status_message"], "the search index is down");
    let exception = failed["events"].as_array().and_then(|events| events.iter().find(|e| e["name"] == "exception"));
    let message = exception
        .and_then(|e| e["attributes"].get("exception.message").or_else(|| e["attributes"]["exception"].get("message")));
    assert_eq!(message.and_then(Value::as_str), Some("the search index is down"));

    // The runs' own record agrees on what ended how.
    let errors = recorder.events().iter().filter(|e| matches!(e.data, EventData::Error(_))).count();
    assert_eq!(errors, 1);
    otel.shutdown(Duration::from_secs(5));
}
