//! A mistake in the attribute is reported once; the function is still emitted with its
//! traced signature, so its callers (and its body's use of `run`) raise no follow-on errors.
use runtrace::prelude::*;

#[traced_run(kind = "tool", skip(expresion))]
fn calculator(expression: String, run: &RunManager) -> Result<f64, CallbackError> {
    run.on_text(&expression)?;
    Ok(expression.len() as f64)
}

#[traced_run(kind = "chian")]
async fn answer(question: String, run: &RunManager) -> Result<f64, CallbackError> {
    let sum = calculator(question, run)?;
    Ok(sum * 2.0)
}

fn main() {
    let callbacks = CallbackManager::new();
    let _ = calculator("2 + 2".into(), &callbacks);
    let _ = answer("why?".into(), CallbackManager::none());
}
