use runtrace::prelude::*;

#[traced_run(kind = "tool", tags(math, "fast"))]
fn calc(expr: String) -> String {
    expr
}

fn main() {}
