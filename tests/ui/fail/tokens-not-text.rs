use futures::stream::{self, Stream};
use runtrace::prelude::*;

#[traced_run(kind = "llm", tokens)]
fn scores() -> impl Stream<Item = u32> {
    stream::iter([1, 2])
}

fn main() {}
