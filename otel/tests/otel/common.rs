//! The runs the tests trace, and helpers to read spans back.

use std::time::{Duration, Instant};

use opentelemetry::Value;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use opentelemetry_sdk::trace::SpanData;
use runtrace::event::{Message, ModelOutput, ModelResponse, Usage};
use runtrace::prelude::*;
use runtrace_otel::{OtelBuilder, OtelHandler};

pub type Builder = OtelBuilder<InMemorySpanExporter>;

/// A handler over a fresh in-memory exporter, configured by `configure`.
pub fn handler(configure: impl FnOnce(Builder) -> Builder) -> (OtelHandler, InMemorySpanExporter) {
    let spans = InMemorySpanExporter::default();
    let otel = configure(OtelHandler::builder(spans.clone()).with_message_content(false)).build();
    (otel, spans)
}

/// Every span exported so far, after a flush.
pub fn finished(otel: &OtelHandler, spans: &InMemorySpanExporter) -> Vec<SpanData> {
    assert!(otel.flush_blocking(Duration::from_secs(10)), "the flush finished");
    spans.get_finished_spans().expect("the in-memory exporter answers")
}

pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

pub fn text(span: &SpanData, key: &str) -> String {
    match attr(span, key) {
        Some(value) => value.as_str().into_owned(),
        None => panic!("span `{}` has no attribute {key}: {:#?}", span.name, span.attributes),
    }
}

pub fn int(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(Value::I64(n)) => *n,
        other => panic!("span `{}`: {key} is {other:?}", span.name),
    }
}

pub fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span `{name}` in {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()))
}

/// A chat model's answer, with what the provider says about it.
#[derive(serde::Serialize)]
pub struct ChatCompletion {
    pub text: String,
}

impl ModelOutput for ChatCompletion {
    fn usage(&self) -> Option<Usage> {
        Some(Usage::new(12, 3).with_cache_read(4))
    }

    fn response(&self) -> Option<ModelResponse> {
        Some(
            ModelResponse::new()
                .with_model("gpt-4o-mini-2024-07-18")
                .with_id("chatcmpl-42")
                .with_finish_reason("stop")
                .with_message(Message::new("assistant", self.text.clone())),
        )
    }
}

#[traced_run(kind = "tool")]
pub fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

/// A streaming chat model: three tokens, then the completion with its usage.
#[traced_run(kind = "chat_model", model = "gpt-4o-mini", provider = "openai")]
pub fn chat(prompt: String, run: &RunManager) -> Result<ChatCompletion, CallbackError> {
    for token in ["The answer", " is ", "4"] {
        run.on_llm_new_token(token)?;
    }
    let _ = prompt;
    Ok(ChatCompletion { text: "The answer is 4".into() })
}

#[traced_run(kind = "chain", tags("quickstart"), metadata(user = "ada"))]
pub fn answer(question: String, run: &RunManager) -> Result<String, CallbackError> {
    let sum = calculator("2 + 2".into(), run);
    Ok(chat(format!("{question} ({sum})"), run)?.text)
}

/// Traces `n` quickstart requests (`answer`); how long the traced calls took.
pub fn trace_requests(callbacks: &CallbackManager, n: usize) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        answer(format!("question {i}"), callbacks).expect("the quickstart answers");
    }
    started.elapsed()
}
