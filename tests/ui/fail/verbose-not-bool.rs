use runtrace::prelude::*;

#[traced_run(kind = "chain", verbose = 1)]
fn answer(question: String) -> String {
    question
}

fn main() {}
