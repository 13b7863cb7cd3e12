//! The future of a traced async fn is `Send` when the body's is, so it can be spawned.
use runtrace::prelude::*;

#[traced_run(kind = "llm")]
async fn model(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    run.on_llm_new_token(&prompt)?;
    std::future::ready(()).await;
    Ok(prompt)
}

#[traced_run(kind = "chain", metadata(step = 1), tags("a"))]
async fn chain(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    model(prompt, run).await
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn main() {
    let callbacks = CallbackManager::new();
    let future = assert_send(chain("hi".into(), &callbacks));
    assert_eq!(futures::executor::block_on(future).unwrap(), "hi");
}
