use runtrace::prelude::*;

#[derive(Debug)]
pub enum ToolError {
    Overflow,
}

/// A crate's own result alias: only the compiler sees that it is a `Result`.
pub type ToolResult<T> = Result<T, ToolError>;

#[traced_run(kind = "tool")]
fn double(x: u32) -> ToolResult<u32> {
    x.checked_mul(2).ok_or(ToolError::Overflow)
}

fn main() {}
