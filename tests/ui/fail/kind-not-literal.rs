use runtrace::prelude::*;

#[traced_run(kind = RunKind::Tool)]
fn calculator(expr: String) -> f64 {
    expr.len() as f64
}

fn main() {}
