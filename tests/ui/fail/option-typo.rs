use runtrace::prelude::*;

#[traced_run(kind = "llm", skip_ouput)]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {}
