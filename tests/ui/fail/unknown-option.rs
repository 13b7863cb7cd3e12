use runtrace::prelude::*;

#[traced_run(kind = "tool", sample_rate = 0.5)]
fn calculator(expr: String) -> f64 {
    expr.len() as f64
}

fn main() {}
