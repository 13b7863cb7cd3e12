use async_trait::async_trait;
use runtrace::prelude::*;

#[async_trait]
trait Retriever {
    async fn retrieve(&self, query: &str) -> Vec<String>;
}

struct Index;

#[traced_run(kind = "retriever")]
#[async_trait]
impl Retriever for Index {
    async fn retrieve(&self, query: &str) -> Vec<String> {
        vec![query.to_owned()]
    }
}

fn main() {}
