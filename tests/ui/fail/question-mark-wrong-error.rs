use runtrace::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("tool failed")]
struct ToolError;

#[traced_run(kind = "tool")]
async fn parse(text: String) -> Result<u32, ToolError> {
    let n: u32 = text.parse()?;
    Ok(n)
}

fn main() {}
