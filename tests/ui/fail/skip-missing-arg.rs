use runtrace::prelude::*;

#[traced_run(kind = "llm", skip(api_key))]
fn complete(prompt: String, key: String) -> String {
    format!("{prompt}{key}")
}

fn main() {}
