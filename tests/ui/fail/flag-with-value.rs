use runtrace::prelude::*;

#[traced_run(kind = "llm", skip_output = true)]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {}
