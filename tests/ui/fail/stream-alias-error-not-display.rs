use std::pin::Pin;

use futures::stream::{self, Stream};
use runtrace::prelude::*;

#[derive(Debug)]
pub enum ApiError {
    RateLimited,
}

/// A client's streaming reply: its items are `Result`s, which only the alias says.
pub type Replies = Pin<Box<dyn Stream<Item = Result<String, ApiError>> + Send>>;

#[traced_run(kind = "llm", stream)]
fn chat(prompt: String) -> Replies {
    Box::pin(stream::iter([Ok(prompt), Err(ApiError::RateLimited)]))
}

fn main() {}
