use std::pin::Pin;

use futures::stream::{self, Stream};
use runtrace::prelude::*;

pub struct Embedding {
    pub vector: Vec<f32>,
}

pub type Embeddings = Pin<Box<dyn Stream<Item = Result<Embedding, std::io::Error>> + Send>>;

#[traced_run(kind = "embedding", stream)]
fn embed(text: String) -> Embeddings {
    Box::pin(stream::iter([Ok(Embedding { vector: vec![text.len() as f32] })]))
}

fn main() {}
