//! Runs sent to LangSmith: a support bot answers two questions (a chain with a calculator
//! tool and a streaming chat model), and its runs go to the project `LANGSMITH_PROJECT`
//! names, as LangSmith's own SDK would send them.
//!
//! ```text
//! LANGSMITH_API_KEY=lsv2_... LANGSMITH_PROJECT=support-bot cargo run --example langsmith --features langsmith
//! ```
//!
//! With `LANGSMITH_TRACING=true` the same program needs no exporter at all: the `langsmith`
//! feature sends every traced run (`LANGSMITH_TRACING=true cargo run --example quickstart
//! --features langsmith`).

use std::time::Duration;

use runtrace::langsmith::LangSmithExporter;
use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

#[traced_run(kind = "chat_model", name = "fake_chat")]
fn chat(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    let answer = format!("The answer to {prompt:?} is 4.");
    for word in answer.split_inclusive(' ') {
        run.on_llm_new_token(word)?;
    }
    Ok(answer)
}

#[traced_run(kind = "chain", tags("support"), metadata(channel = "chat"))]
fn answer(question: String, run: &RunManager) -> Result<String, CallbackError> {
    let sum = calculator("2 + 2".into(), run);
    chat(format!("{question} ({sum})"), run)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let langsmith = LangSmithExporter::from_env()?;
    let callbacks = langsmith.callbacks();
    for question in ["What is 2 + 2?", "And in words?"] {
        println!("{question} {}", answer(question.into(), &callbacks)?);
    }
    let delivered = langsmith.flush_blocking(Duration::from_secs(10));
    println!(
        "{} runs sent to LangSmith project {:?}, {} dropped{}",
        langsmith.sent_runs(),
        langsmith.project().unwrap_or("default"),
        langsmith.dropped_runs(),
        if delivered { "" } else { " (some still waiting)" },
    );
    Ok(())
}
