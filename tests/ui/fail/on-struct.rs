use runtrace::prelude::*;

#[traced_run(kind = "tool")]
struct Calculator {
    precision: u32,
}

fn main() {
    let _ = Calculator { precision: 2 }.precision;
}
