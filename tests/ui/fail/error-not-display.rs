use runtrace::prelude::*;

#[derive(Debug)]
enum ToolError {
    Overflow,
}

#[traced_run(kind = "tool")]
fn double(x: u32) -> Result<u32, ToolError> {
    x.checked_mul(2).ok_or(ToolError::Overflow)
}

fn main() {}
