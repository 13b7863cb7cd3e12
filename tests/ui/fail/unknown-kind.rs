use runtrace::prelude::*;

#[traced_run(kind = "toll")]
fn calculator(expr: String) -> f64 {
    expr.len() as f64
}

fn main() {}
