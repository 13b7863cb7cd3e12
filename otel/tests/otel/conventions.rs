//! The attributes of each convention, and the switches that turn each off.

use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;
use runtrace::RunKind;
use runtrace::event::{ModelRequest, Usage};
use runtrace_otel::attributes::{genai, langfuse, langsmith, openinference};

use crate::common::*;

fn quickstart(configure: impl FnOnce(Builder) -> Builder) -> Vec<SpanData> {
    let (otel, spans) = handler(configure);
    answer("What is 2 + 2?".into(), otel.callbacks()).unwrap();
    finished(&otel, &spans)
}

const LLM: &str = "chat gpt-4o-mini-2024-07-18";

#[test]
fn genai_attributes_describe_the_model_call() {
    let spans = quickstart(|b| b);
    let llm = named(&spans, LLM);
    assert_eq!(text(llm, genai::OPERATION_NAME), "chat");
    assert_eq!(text(llm, genai::PROVIDER_NAME), "openai");
    assert_eq!(text(llm, genai::REQUEST_MODEL), "gpt-4o-mini");
    assert_eq!(text(llm, genai::RESPONSE_MODEL), "gpt-4o-mini-2024-07-18");
    assert_eq!(text(llm, genai::RESPONSE_ID), "chatcmpl-42");
    assert_eq!(attr(llm, genai::RESPONSE_FINISH_REASONS), Some(&Value::Array(Array::String(vec!["stop".into()]))));
    assert_eq!(int(llm, genai::USAGE_INPUT_TOKENS), 12);
    assert_eq!(int(llm, genai::USAGE_OUTPUT_TOKENS), 3);
    assert_eq!(int(llm, genai::USAGE_CACHE_READ_INPUT_TOKENS), 4);
    let tool = named(&spans, "execute_tool calculator");
    assert_eq!(text(tool, genai::OPERATION_NAME), "execute_tool");
    assert_eq!(text(tool, genai::TOOL_NAME), "calculator");
    assert!(attr(named(&spans, "answer"), genai::OPERATION_NAME).is_none(), "a chain is no GenAI operation");
}

#[test]
fn genai_request_parameters_by_their_provider_names() {
    let (otel, spans) = handler(|b| b);
    let request = || {
        ModelRequest::new("claude-3-5-haiku")
            .with_provider("anthropic")
            .with_param("temperature", 0.2)
            .with_param("max_tokens", 256)
            .with_param("stop", serde_json::json!(["\n\n"]))
            .with_param("vendor_specific", true)
    };
    let run = otel.callbacks().start_model_run(RunKind::ChatModel, "chat", &"hi", &request).unwrap();
    run.run().report_usage(Usage::new(5, 1)).unwrap();
    run.end(&"hello").unwrap();
    let span = finished(&otel, &spans).remove(0);
    assert_eq!(attr(&span, genai::REQUEST_TEMPERATURE), Some(&Value::F64(0.2)));
    assert_eq!(int(&span, genai::REQUEST_MAX_TOKENS), 256);
    assert_eq!(attr(&span, genai::REQUEST_STOP_SEQUENCES), Some(&Value::Array(Array::String(vec!["\n\n".into()]))));
    assert_eq!(int(&span, genai::USAGE_INPUT_TOKENS), 5, "usage reported while the run ran");
    let params: serde_json::Value =
        serde_json::from_str(&text(&span, openinference::LLM_INVOCATION_PARAMETERS)).unwrap();
    assert_eq!(params["vendor_specific"], true);
}

#[test]
fn openinference_attributes_for_phoenix() {
    let spans = quickstart(|b| b);
    let llm = named(&spans, LLM);
    assert_eq!(text(llm, openinference::SPAN_KIND), "LLM");
    assert_eq!(text(llm, openinference::LLM_MODEL_NAME), "gpt-4o-mini-2024-07-18");
    assert_eq!(text(llm, openinference::LLM_PROVIDER), "openai");
    assert_eq!(int(llm, openinference::LLM_TOKEN_COUNT_PROMPT), 12);
    assert_eq!(int(llm, openinference::LLM_TOKEN_COUNT_COMPLETION), 3);
    assert_eq!(int(llm, openinference::LLM_TOKEN_COUNT_TOTAL), 15);
    assert_eq!(int(llm, openinference::LLM_TOKEN_COUNT_CACHE_READ), 4);
    let root = named(&spans, "answer");
    assert_eq!(text(root, openinference::SPAN_KIND), "CHAIN");
    assert_eq!(attr(root, openinference::TAG_TAGS), Some(&Value::Array(Array::String(vec!["quickstart".into()]))));
    let metadata: serde_json::Value = serde_json::from_str(&text(root, openinference::METADATA)).unwrap();
    assert_eq!(metadata["user"], "ada");
    assert_eq!(text(named(&spans, "execute_tool calculator"), openinference::TOOL_NAME), "calculator");
}

#[test]
fn langsmith_attributes_carry_ids_kinds_tags_and_metadata() {
    let spans = quickstart(|b| b);
    let (root, llm) = (named(&spans, "answer"), named(&spans, LLM));
    assert_eq!(text(llm, langsmith::SPAN_KIND), "llm");
    assert_eq!(text(root, langsmith::SPAN_KIND), "chain");
    assert_eq!(text(llm, langsmith::TRACE_ID), text(root, langsmith::SPAN_ID));
    assert_eq!(text(llm, langsmith::SPAN_PARENT_ID), text(root, langsmith::SPAN_ID));
    assert!(attr(root, langsmith::SPAN_PARENT_ID).is_none());
    assert_eq!(text(root, langsmith::SPAN_TAGS), "quickstart");
    assert_eq!(text(root, "langsmith.metadata.user"), "ada");
}

#[test]
fn langfuse_attributes_mark_generations_and_the_trace() {
    let spans = quickstart(|b| b);
    let (root, llm) = (named(&spans, "answer"), named(&spans, LLM));
    assert_eq!(text(llm, langfuse::OBSERVATION_TYPE), "generation");
    assert_eq!(text(named(&spans, "execute_tool calculator"), langfuse::OBSERVATION_TYPE), "tool");
    assert_eq!(text(root, langfuse::OBSERVATION_TYPE), "chain");
    assert_eq!(text(llm, langfuse::OBSERVATION_MODEL_NAME), "gpt-4o-mini-2024-07-18");
    let usage: serde_json::Value = serde_json::from_str(&text(llm, langfuse::OBSERVATION_USAGE_DETAILS)).unwrap();
    assert_eq!(usage, serde_json::json!({"input": 12, "output": 3, "total": 15, "input_cache_read": 4}));
    let first = text(llm, langfuse::OBSERVATION_COMPLETION_START_TIME);
    assert!(first.ends_with('Z') && first.len() == 27, "{first}");
    assert_eq!(text(root, langfuse::TRACE_NAME), "answer");
    assert!(attr(llm, langfuse::TRACE_NAME).is_none());
    assert_eq!(text(root, "langfuse.observation.metadata.user"), "ada");
}

#[test]
fn each_convention_can_be_turned_off() {
    let prefixes = ["gen_ai.", "openinference.", "langsmith.", "langfuse."];
    let spans =
        quickstart(|b| b.with_genai(false).with_openinference(false).with_langsmith(false).with_langfuse(false));
    for span in &spans {
        for kv in &span.attributes {
            assert!(!prefixes.iter().any(|p| kv.key.as_str().starts_with(p)), "{} on {}", kv.key, span.name);
        }
    }
    let only_langfuse = quickstart(|b| b.with_genai(false).with_openinference(false).with_langsmith(false));
    let llm = named(&only_langfuse, "chat");
    assert!(attr(llm, langfuse::OBSERVATION_TYPE).is_some());
    assert!(attr(llm, openinference::SPAN_KIND).is_none());
}

#[test]
fn every_kind_maps_to_each_conventions_kind() {
    let (otel, spans) = handler(|b| b.with_genai(false));
    for kind in RunKind::ALL {
        otel.callbacks().start_run(kind, kind.as_str(), &()).unwrap().end(&()).unwrap();
    }
    let spans = finished(&otel, &spans);
    let table: Vec<(String, String, String, String)> = spans
        .iter()
        .map(|s| {
            let kinds =
                [openinference::SPAN_KIND, langsmith::SPAN_KIND, langfuse::OBSERVATION_TYPE].map(|k| text(s, k));
            let [oi, ls, lf] = kinds;
            (s.name.to_string(), oi, ls, lf)
        })
        .collect();
    let expected = [
        ("chain", "CHAIN", "chain", "chain"),
        ("llm", "LLM", "llm", "generation"),
        ("chat_model", "LLM", "llm", "generation"),
        ("tool", "TOOL", "tool", "tool"),
        ("retriever", "RETRIEVER", "retriever", "retriever"),
        ("agent", "AGENT", "chain", "agent"),
        ("embedding", "EMBEDDING", "embedding", "embedding"),
        ("parser", "CHAIN", "parser", "span"),
        ("prompt", "CHAIN", "prompt", "span"),
        ("custom", "UNKNOWN", "chain", "span"),
    ];
    let expected: Vec<(String, String, String, String)> =
        expected.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(table, expected);
}
