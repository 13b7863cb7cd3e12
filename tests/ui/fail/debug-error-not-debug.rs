use runtrace::prelude::*;

struct ToolError;

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("overflow")
    }
}

#[traced_run(kind = "tool", err(Debug))]
fn double(x: u32) -> Result<u32, ToolError> {
    x.checked_mul(2).ok_or(ToolError)
}

fn main() {}
