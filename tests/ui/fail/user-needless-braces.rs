//! The body keeps the user's own lints: needless braces the user wrote in a traced
//! `async fn` are reported, as in any other function.
#![deny(unused_braces)]

use runtrace::prelude::*;

fn double(x: u8) -> u8 {
    x * 2
}

#[traced_run(kind = "tool")]
async fn braced(x: u8) -> u8 {
    double({ x })
}

fn main() {
    let _ = braced(1, CallbackManager::none());
}
