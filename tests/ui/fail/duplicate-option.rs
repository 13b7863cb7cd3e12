use runtrace::prelude::*;

#[traced_run(kind = "tool", name = "calculator", kind = "llm")]
fn calculator(expr: String) -> f64 {
    expr.len() as f64
}

fn main() {}
