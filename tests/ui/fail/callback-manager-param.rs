use runtrace::prelude::*;

#[traced_run(kind = "chain")]
fn answer(question: String, callbacks: &CallbackManager) -> String {
    let _ = callbacks;
    question
}

fn main() {
    // No follow-on error here: the function keeps the parameters it was written with.
    let _ = answer("hi".into(), CallbackManager::none());
}
