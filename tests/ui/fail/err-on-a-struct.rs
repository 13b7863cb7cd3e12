use runtrace::prelude::*;

#[derive(serde::Serialize)]
pub struct Answer {
    pub text: String,
}

#[traced_run(kind = "chain", err(Debug))]
fn answer(question: String) -> Answer {
    Answer { text: question }
}

fn main() {}
