//! Lints a crate forbids stay forbidden: the expansion allows none of them, so no traced
//! function breaks with "allow(...) incompatible with previous forbid".
#![forbid(unused_braces, unsafe_code)]
#![deny(warnings)]

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
async fn multi_line(x: u8) -> u8 {
    let doubled = x * 2;
    doubled + 1
}

#[rustfmt::skip]
#[traced_run(kind = "tool")]
async fn one_line(x: u8) -> u8 { x + 1 }

#[traced_run(kind = "tool")]
fn sync_one(x: u8) -> u8 {
    x + 1
}

fn main() {
    let none = CallbackManager::none();
    let _ = (multi_line(1, none), one_line(1, none), sync_one(1, none));
}
