use futures::stream::{self, Stream};
use runtrace::prelude::*;

pub struct Embedding {
    pub vector: Vec<f32>,
}

#[traced_run(kind = "embedding")]
fn embed(text: String) -> impl Stream<Item = Embedding> {
    stream::iter([Embedding { vector: vec![text.len() as f32] }])
}

fn main() {}
