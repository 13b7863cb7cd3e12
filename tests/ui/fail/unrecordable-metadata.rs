use runtrace::prelude::*;

#[derive(Default)]
struct Model {
    name: String,
}

#[traced_run(kind = "llm", metadata(model = Model::default(), name = "gpt-4o"))]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {
    let _ = Model::default().name;
}
