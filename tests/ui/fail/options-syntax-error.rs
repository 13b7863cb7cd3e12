use runtrace::prelude::*;

#[traced_run(kind = "llm" name = "complete")]
fn complete(prompt: String) -> String {
    prompt
}

fn main() {
    let _ = complete("hi".into(), CallbackManager::none());
}
