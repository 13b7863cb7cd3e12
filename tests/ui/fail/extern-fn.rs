use runtrace::prelude::*;

#[traced_run(kind = "tool")]
extern "C" fn double(x: u32) -> u32 {
    x * 2
}

fn main() {}
