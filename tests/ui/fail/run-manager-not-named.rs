use runtrace::prelude::*;

#[traced_run(kind = "chain")]
fn answer(question: String, _: &RunManager) -> String {
    question
}

fn main() {}
