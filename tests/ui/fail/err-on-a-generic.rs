use runtrace::prelude::*;

#[traced_run(kind = "tool", err(Debug))]
fn echo<T: serde::Serialize + Sync>(value: T) -> T {
    value
}

fn main() {}
