use futures::FutureExt as _;
use futures::future::BoxFuture;
use runtrace::prelude::*;

#[traced_run]
fn lookup(key: u32, run: &RunManager) -> BoxFuture<'static, u32> {
    let _ = run;
    async move { key }.boxed()
}

fn main() {}
