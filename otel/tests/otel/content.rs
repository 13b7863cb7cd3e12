//! Message content: recorded only when asked, as runtrace recorded it, within the size limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use runtrace::RunKind;
use runtrace::event::{Message, ModelRequest};
use runtrace::prelude::*;
use runtrace_otel::attributes::{genai, langfuse, langsmith, openinference};

use crate::common::*;

const CONTENT_KEYS: [&str; 10] = [
    openinference::INPUT_VALUE,
    openinference::OUTPUT_VALUE,
    genai::INPUT_MESSAGES,
    genai::OUTPUT_MESSAGES,
    genai::TOOL_CALL_ARGUMENTS,
    genai::TOOL_CALL_RESULT,
    langsmith::PROMPT,
    langsmith::COMPLETION,
    langfuse::OBSERVATION_INPUT,
    langfuse::OBSERVATION_OUTPUT,
];

#[test]
fn content_is_not_recorded_unless_asked() {
    let (otel, spans) = handler(|b| b);
    answer("a secret question".into(), otel.callbacks()).unwrap();
    for span in finished(&otel, &spans) {
        for key in CONTENT_KEYS {
            assert!(attr(&span, key).is_none(), "{key} on {}", span.name);
        }
        assert!(!format!("{:?}", span.attributes).contains("secret"));
        assert!(!format!("{:?}", span.events).contains("answer is"), "no token text");
    }
}

/// An argument that counts how often runtrace serializes it.
#[derive(Clone, Default)]
struct Counted(Arc<AtomicUsize>);

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

#[traced_run(kind = "tool")]
fn lookup(key: Counted) -> Counted {
    key
}

#[test]
fn without_content_the_traced_call_serializes_no_input_or_output() {
    let (otel, spans) = handler(|b| b);
    let key = Counted::default();
    lookup(key.clone(), otel.callbacks());
    let spans = finished(&otel, &spans);
    assert_eq!(spans.len(), 1);
    assert_eq!(key.0.load(Ordering::SeqCst), 0, "inputs and outputs were never made");

    let (otel, spans) = handler(|b| b.with_message_content(true));
    lookup(key.clone(), otel.callbacks());
    let spans = finished(&otel, &spans);
    assert_eq!(key.0.load(Ordering::SeqCst), 2, "the input and the output, once each");
    assert_eq!(text(&spans[0], genai::TOOL_CALL_ARGUMENTS), r#"{"key":"counted"}"#);
    assert_eq!(text(&spans[0], genai::TOOL_CALL_RESULT), "counted");
}

#[test]
fn content_is_recorded_when_asked() {
    let (otel, spans) = handler(|b| b.with_message_content(true));
    answer("What is 2 + 2?".into(), otel.callbacks()).unwrap();
    let spans = finished(&otel, &spans);
    let root = named(&spans, "answer");
    let inputs: serde_json::Value = serde_json::from_str(&text(root, openinference::INPUT_VALUE)).unwrap();
    assert_eq!(inputs, serde_json::json!({"question": "What is 2 + 2?"}));
    assert_eq!(text(root, openinference::INPUT_MIME_TYPE), "application/json");
    assert_eq!(text(root, openinference::OUTPUT_VALUE), "The answer is 4");
    assert_eq!(text(root, openinference::OUTPUT_MIME_TYPE), "text/plain");
    assert_eq!(text(root, langsmith::COMPLETION), r#"{"output":"The answer is 4"}"#);
    assert_eq!(text(root, langfuse::OBSERVATION_OUTPUT), "The answer is 4");
    let tool = named(&spans, "execute_tool calculator");
    assert_eq!(text(tool, genai::TOOL_CALL_ARGUMENTS), r#"{"expr":"2 + 2"}"#);
    assert_eq!(text(tool, genai::TOOL_CALL_RESULT), "4.0");
    let llm = named(&spans, "chat gpt-4o-mini-2024-07-18");
    let output: serde_json::Value = serde_json::from_str(&text(llm, genai::OUTPUT_MESSAGES)).unwrap();
    assert_eq!(
        output,
        serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": "The answer is 4"}]}])
    );
    assert_eq!(text(llm, "llm.output_messages.0.message.content"), "The answer is 4");
    let tokens: Vec<String> = llm
        .events
        .iter()
        .filter(|e| e.name == "new_token")
        .map(|e| e.attributes[0].value.as_str().into_owned())
        .collect();
    assert_eq!(tokens, ["The answer", " is ", "4"]);
}

#[test]
fn input_messages_in_both_forms() {
    let (otel, spans) = handler(|b| b.with_message_content(true));
    let request = || {
        ModelRequest::new("gpt-4o")
            .with_message(Message::new("system", "Be brief."))
            .with_message(Message::new("user", "2 + 2?"))
    };
    otel.callbacks().start_model_run(RunKind::ChatModel, "chat", &"2 + 2?", &request).unwrap().end(&"4").unwrap();
    let span = finished(&otel, &spans).remove(0);
    assert_eq!(text(&span, "llm.input_messages.0.message.role"), "system");
    assert_eq!(text(&span, "llm.input_messages.1.message.content"), "2 + 2?");
    let messages: serde_json::Value = serde_json::from_str(&text(&span, genai::INPUT_MESSAGES)).unwrap();
    assert_eq!(messages[1], serde_json::json!({"role": "user", "parts": [{"type": "text", "content": "2 + 2?"}]}));
}

#[traced_run(kind = "tool", skip(api_key), redact(password))]
fn login(user: String, password: String, api_key: String) -> bool {
    !user.is_empty() && !password.is_empty() && !api_key.is_empty()
}

#[test]
fn skipped_and_redacted_arguments_stay_so() {
    let (otel, spans) = handler(|b| b.with_message_content(true));
    login("ada".into(), "hunter2".into(), "sk-123".into(), otel.callbacks());
    let span = finished(&otel, &spans).remove(0);
    let inputs: serde_json::Value = serde_json::from_str(&text(&span, openinference::INPUT_VALUE)).unwrap();
    assert_eq!(inputs, serde_json::json!({"user": "ada", "password": "[REDACTED]"}));
    let all = format!("{:?}", span.attributes);
    assert!(!all.contains("hunter2") && !all.contains("sk-123"));
}

#[test]
fn huge_values_are_cut_to_the_limit() {
    let (otel, spans) = handler(|b| b.with_message_content(true).with_max_attribute_len(1024));
    let huge = "é".repeat(10_000);
    otel.callbacks().start_run(RunKind::Tool, "echo", &huge).unwrap().end(&huge).unwrap();
    let span = finished(&otel, &spans).remove(0);
    let output = text(&span, openinference::OUTPUT_VALUE);
    assert!(output.len() <= 1024, "{}", output.len());
    assert!(output.ends_with("…[truncated]"));
}
