use futures::stream::{self, Stream};
use runtrace::prelude::*;

#[derive(Debug)]
pub enum ApiError {
    RateLimited,
}

/// A client's result alias, as the items of a stream whose type is written.
pub type ApiResult<T> = Result<T, ApiError>;

#[traced_run(kind = "llm")]
fn chat(prompt: String) -> impl Stream<Item = ApiResult<String>> {
    stream::iter([Ok(prompt), Err(ApiError::RateLimited)])
}

fn main() {}
