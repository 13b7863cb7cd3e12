#![deny(unused_variables, unused_mut)]

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn calculator(expr: String) -> usize {
    let mut total = expr.len();
    let unused = 2;
    total
}

#[traced_run(kind = "tool")]
async fn fetch(url: String) -> usize {
    let mut length = url.len();
    length
}

fn main() {}
