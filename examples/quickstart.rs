//! The main job: a chain that asks a tool and a streaming model, traced by the console
//! handler as it runs, then printed as a run tree.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::sync::Arc;
use std::time::Duration;

use runtrace::prelude::*;
use runtrace::tracer::collect_runs_async;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("the calculator cannot read `{0}`")]
    Calculator(String),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// A tool: adds up `a + b + ...`.
#[traced_run(kind = "tool", name = "calculator")]
async fn calculator(expression: String) -> Result<f64, AppError> {
    expression
        .split('+')
        .map(|term| term.trim().parse::<f64>().map_err(|_| AppError::Calculator(expression.clone())))
        .sum()
}

/// A model that streams its answer one token at a time.
#[traced_run(kind = "llm", metadata(model = "fake-llm-1", temperature = 0.0))]
async fn fake_llm(prompt: String, run: &RunManager) -> Result<String, AppError> {
    let answer = if prompt.contains('4') { "Two plus two is four." } else { "I am not sure." };
    let mut streamed = String::new();
    for token in answer.split_inclusive(' ') {
        tokio::time::sleep(Duration::from_millis(15)).await;
        run.on_llm_new_token(token)?;
        streamed.push_str(token);
    }
    Ok(streamed)
}

/// The chain: works the sum out with the tool, then asks the model to phrase it.
#[traced_run(kind = "chain")]
async fn answer(question: String, run: &RunManager) -> Result<String, AppError> {
    let sum = calculator("2 + 2".into(), run).await?;
    run.on_text(&format!("the calculator says {sum}"))?;
    fake_llm(format!("Question: {question}\nFact: 2 + 2 = {sum}\nAnswer:"), run).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AppError> {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new()
        .with_handler(ConsoleHandler::new())
        .with_handler(recorder.clone())
        .with_tags(["quickstart"]);

    // `collect_runs_async` traces every run tree started inside it and hands the trees back.
    let (reply, trees) = collect_runs_async(answer("What is two plus two?".into(), &callbacks)).await;
    println!("\nreply: {}", reply?);
    println!("the recorder heard {} events; the run tree:\n", recorder.len());
    for tree in &trees {
        print!("{}", tree.view());
    }
    Ok(())
}
