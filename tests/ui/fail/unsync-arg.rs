use std::cell::Cell;

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn count(calls: &Cell<u32>) -> u32 {
    calls.set(calls.get() + 1);
    calls.get()
}

fn main() {}
