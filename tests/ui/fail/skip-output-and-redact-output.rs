use runtrace::prelude::*;

#[traced_run(kind = "llm", skip_output, redact_output)]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {}
