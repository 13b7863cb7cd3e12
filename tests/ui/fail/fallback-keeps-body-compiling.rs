//! On a mistake in the attribute, the body still compiles as written: `run` is a usable
//! `&RunManager` (even a `mut` one), and a second run manager does not cascade.
#![deny(warnings)]

use runtrace::prelude::*;

#[traced_run(kind = "tool", skip(nothing))]
fn calculator(expression: String, mut run: &RunManager) -> Result<usize, CallbackError> {
    run.on_text(&expression)?;
    run = &*run;
    run.on_text("again")?;
    Ok(expression.len())
}

#[traced_run(kind = "chain")]
fn answer(question: String, run: &RunManager, mut other: &RunManager) -> Result<usize, CallbackError> {
    other = run;
    other.on_text(&question)?;
    calculator(question, run)
}

fn main() {
    let _ = calculator("2 + 2".into(), CallbackManager::none());
    let _ = answer("why?".into(), CallbackManager::none(), &RunManager::noop());
}
