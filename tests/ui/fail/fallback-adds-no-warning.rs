//! After a misuse is reported, the function is emitted untraced: it raises no lint of its own,
//! whatever its body's shape.
#![deny(warnings)]
use runtrace::prelude::*;

#[traced_run(kind = "llm", skip_ouput)]
fn one() -> u8 { 1 }

#[traced_run(kind = "llm", skip_ouput)]
fn with_run(x: u8, run: &RunManager) -> u8 { if run.is_recording() { x } else { 0 } }

fn main() {
    let _ = one(CallbackManager::none());
    let _ = with_run(1, CallbackManager::none());
}
