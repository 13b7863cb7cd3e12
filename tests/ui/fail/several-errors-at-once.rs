use runtrace::prelude::*;

#[traced_run(kind = "tol", skip(query), colour = "red")]
fn search(question: String) -> Vec<String> {
    vec![question]
}

fn main() {}
