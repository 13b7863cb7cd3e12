use runtrace::prelude::*;

#[traced_run(kind = "llm", metadata("gpt-4o"))]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {}
