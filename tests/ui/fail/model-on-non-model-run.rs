use runtrace::prelude::*;

#[traced_run(kind = "tool", model = "gpt-4o-mini")]
fn calculator(expr: String) -> String {
    expr
}

#[traced_run(provider = "openai")]
fn answer(question: String) -> String {
    question
}

fn main() {}
