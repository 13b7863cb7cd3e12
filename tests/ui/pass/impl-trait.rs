//! `impl Trait` arguments and return types.
use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn total(values: impl IntoIterator<Item = u32> + serde::Serialize + Sync) -> u32 {
    values.into_iter().sum()
}

#[traced_run(kind = "tool", skip(values))]
fn doubled(values: impl IntoIterator<Item = u32>) -> impl serde::Serialize + Sync {
    values.into_iter().map(|v| v * 2).collect::<Vec<_>>()
}

#[traced_run(kind = "tool", skip_output)]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[traced_run(kind = "retriever")]
async fn search(query: impl AsRef<str> + serde::Serialize + Send + Sync) -> Vec<String> {
    vec![query.as_ref().to_owned()]
}

#[traced_run(kind = "tool", skip_output)]
async fn lazy(n: u32) -> impl std::future::Future<Output = u32> {
    async move { n }
}

fn main() {
    let none = CallbackManager::none();
    assert_eq!(total(vec![1, 2], none), 3);
    let _ = serde_json::to_value(doubled([1], none));
    assert_eq!(evens(5, none).count(), 3);
    assert_eq!(futures::executor::block_on(search("q", none)), ["q"]);
    assert_eq!(futures::executor::block_on(futures::executor::block_on(lazy(2, none))), 2);
}
