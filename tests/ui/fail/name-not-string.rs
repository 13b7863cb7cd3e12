use runtrace::prelude::*;

#[traced_run(kind = "tool", name = calculator)]
fn calc(expr: String) -> String {
    expr
}

fn main() {}
