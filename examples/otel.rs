//! Runs as OpenTelemetry spans: a support bot's requests (a chain with a calculator tool and
//! a streaming chat model, and one that fails) exported over OTLP/HTTP to Arize Phoenix,
//! Langfuse, LangSmith or any OpenTelemetry backend the standard variables name.
//!
//! ```text
//! phoenix serve &    # pip install arize-phoenix; the UI is on http://localhost:6006
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 cargo run --example otel --features otel
//! ```

use std::sync::Arc;
use std::time::Duration;

use runtrace::event::{Message, ModelOutput, ModelResponse, Usage};
use runtrace::otel::{OtelGuard, OtelHandler, otlp_exporter_from_env, trace_id_of};
use runtrace::prelude::*;

#[derive(Debug, thiserror::Error)]
enum BotError {
    #[error("the calculator cannot read `{0}`")]
    Calculator(String),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// What the (fake) provider answers: the text, with the tokens it billed.
#[derive(serde::Serialize)]
struct Completion {
    text: String,
    prompt_tokens: u64,
}

impl ModelOutput for Completion {
    fn usage(&self) -> Option<Usage> {
        Some(Usage::new(self.prompt_tokens, self.text.split(' ').count() as u64))
    }

    fn response(&self) -> Option<ModelResponse> {
        Some(
            ModelResponse::new()
                .with_model("gpt-4o-mini-2024-07-18")
                .with_finish_reason("stop")
                .with_message(Message::new("assistant", self.text.clone())),
        )
    }
}

#[traced_run(kind = "tool", name = "calculator")]
async fn calculator(expression: String) -> Result<f64, BotError> {
    expression
        .split('+')
        .map(|term| term.trim().parse::<f64>().map_err(|_| BotError::Calculator(expression.clone())))
        .sum()
}

#[traced_run(kind = "chat_model", model = "gpt-4o-mini", provider = "openai")]
async fn chat(prompt: String, run: &RunManager) -> Result<Completion, BotError> {
    let text = format!("The sum is {}.", prompt.rsplit(' ').next().unwrap_or("unknown"));
    for token in text.split_inclusive(' ') {
        tokio::time::sleep(Duration::from_millis(10)).await;
        run.on_llm_new_token(token)?;
    }
    Ok(Completion { prompt_tokens: prompt.split(' ').count() as u64, text })
}

#[traced_run(kind = "chain", tags("support-bot"), metadata(channel = "web"))]
async fn answer(question: String, run: &RunManager) -> Result<String, BotError> {
    let expression = question.trim_start_matches("What is ").trim_end_matches('?');
    let sum = calculator(expression.to_owned(), run).await?;
    Ok(chat(format!("{question} Tool said: {sum}"), run).await?.text)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The exporter as OTEL_EXPORTER_OTLP_* say (http://localhost:4318 when unset). Message
    // content is recorded here because it is a demo; by default it is not.
    let otel = OtelHandler::builder(otlp_exporter_from_env()?)
        .with_project("runtrace-otel-example")
        .with_message_content(true)
        .build();
    // Dropped at the end of main: delivers what is left, at most 5 s.
    let guard = OtelGuard::new(otel.clone());
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = otel.callbacks().with_handler(recorder.clone());

    for question in ["What is 2 + 2?", "What is 40 + 2?", "What is two + 2?"] {
        let reply = match answer(question.into(), &callbacks).await {
            Ok(reply) => reply,
            Err(error) => format!("failed: {error}"),
        };
        let root = recorder.runs().into_iter().rev().find(|run| run.parent_run_id.is_none());
        let trace = root.map(|run| trace_id_of(run.run_id).to_string()).unwrap_or_default();
        println!("{question:<18} → {reply:<22} trace {trace}");
    }
    otel.flush().await;
    println!(
        "\n{} spans exported, {} dropped ({} events turned away).",
        otel.exported_spans(),
        otel.dropped_spans(),
        otel.dropped_events()
    );
    if otel.exported_spans() == 0 {
        println!("Nothing reached a backend: start one (see the README) and set OTEL_EXPORTER_OTLP_ENDPOINT.");
    } else {
        println!("Open the project `runtrace-otel-example` in Phoenix to see the three traces.");
    }
    drop(guard);
    Ok(())
}
