use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn add((a, b): (f64, f64)) -> f64 {
    a + b
}

fn main() {}
