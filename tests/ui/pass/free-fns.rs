//! Sync and async free functions, with and without a run manager parameter.
use std::sync::Arc;

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> f64 {
    expr.split('+').filter_map(|n| n.trim().parse::<f64>().ok()).sum()
}

#[traced_run(kind = "llm")]
async fn fake_llm(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    for token in ["Hel", "lo"] {
        run.on_llm_new_token(token)?;
    }
    Ok(format!("Hello, {prompt}"))
}

#[traced_run(kind = "chain")]
async fn answer(question: String, run: &RunManager) -> Result<String, CallbackError> {
    let sum = calculator("2 + 2".into(), run);
    fake_llm(format!("{question} {sum}"), run).await
}

#[traced_run]
fn unit() {}

#[traced_run]
pub(crate) async fn unit_async() -> () {}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let reply = futures::executor::block_on(answer("hi".into(), &callbacks)).unwrap();
    assert_eq!(reply, "Hello, hi 4");
    let names: Vec<String> = recorder.runs().into_iter().map(|run| run.name.into_owned()).collect();
    assert_eq!(names, ["answer", "calculator", "fake_llm"]);

    unit(CallbackManager::none());
    futures::executor::block_on(unit_async(&callbacks));
}
