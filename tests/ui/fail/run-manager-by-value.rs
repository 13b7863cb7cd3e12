use runtrace::prelude::*;

#[traced_run(kind = "chain")]
fn answer(question: String, run: RunManager) -> String {
    let _ = run;
    question
}

#[traced_run(kind = "chain")]
fn reply(question: String, run: &mut RunManager) -> String {
    let _ = run;
    question
}

fn main() {}
