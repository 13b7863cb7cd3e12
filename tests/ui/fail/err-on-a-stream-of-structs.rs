use futures::stream::{self, Stream};
use runtrace::prelude::*;

#[derive(serde::Serialize)]
pub struct Chunk {
    pub text: String,
}

#[traced_run(kind = "llm", err(Debug))]
fn complete(prompt: String) -> impl Stream<Item = Chunk> {
    stream::iter([Chunk { text: prompt }])
}

fn main() {}
