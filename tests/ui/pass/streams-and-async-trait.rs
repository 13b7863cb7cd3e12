use std::pin::Pin;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, Stream, StreamExt as _};
use runtrace::prelude::*;

#[traced_run(kind = "llm", tokens)]
fn tokens(prompt: &str) -> impl Stream<Item = String> + use<> {
    stream::iter(vec![prompt.to_owned()])
}

#[traced_run]
fn results<'a>(text: &'a str) -> impl Stream<Item = Result<&'a str, std::io::Error>> {
    stream::iter(text.split(' ').map(Ok))
}

#[traced_run]
async fn later(n: u32) -> Pin<Box<dyn Stream<Item = u32> + Send>> {
    Box::pin(stream::iter(0..n))
}

#[traced_run(skip_output)]
fn boxed() -> BoxStream<'static, u8> {
    stream::iter([1]).boxed()
}

#[async_trait]
trait Tool {
    #[traced_run]
    async fn call(&self, input: &str, run: &RunManager) -> Result<String, CallbackError>;
}

struct Echo;

#[async_trait]
impl Tool for Echo {
    #[traced_run(kind = "tool")]
    async fn call(&self, input: &str, run: &RunManager) -> Result<String, CallbackError> {
        run.on_text(input)?;
        Ok(input.to_owned())
    }
}

fn main() {
    let callbacks = CallbackManager::new();
    let _ = tokens("hi", &callbacks);
    let _ = results("a b", &callbacks);
    let _ = later(2, &callbacks);
    let _ = boxed(&callbacks);
    let _ = Echo.call("x", &callbacks);
}
