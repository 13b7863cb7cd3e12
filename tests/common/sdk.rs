//! LangSmith's Python SDK as a peer: the tests that check runtrace against it run a script of
//! `tests/langsmith/` with the Python that `.ci/run` installed the SDK for, named by
//! [`PYTHON_ENV`]. They are `#[ignore]`d for a plain `cargo test`, and fail loudly when run
//! without it. The SDK runs with tracing off and its endpoint on loopback, so it never
//! reaches LangSmith.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable naming a Python with the `langsmith` package (`.ci/run` sets it).
pub const PYTHON_ENV: &str = "RUNTRACE_LANGSMITH_PYTHON";

/// The Python to run the SDK with.
pub fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os(PYTHON_ENV).ok_or_else(|| {
        format!("{PYTHON_ENV} is not set: run this test through .ci/run, which installs the langsmith SDK")
    })?;
    Ok(PathBuf::from(python))
}

/// Runs `script` with `args`, `stdin` on its standard input and `env` added to its
/// environment; gives its standard output, or an error with its standard error.
pub fn run_script(script: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Result<String, String> {
    let mut command = Command::new(python()?);
    command
        .arg(script)
        .args(args)
        .env_remove("LANGSMITH_API_KEY")
        .env_remove("LANGCHAIN_API_KEY")
        .env("LANGSMITH_TRACING", "false")
        .env("LANGCHAIN_TRACING_V2", "false")
        // Discard: port 9 on loopback, for anything that would still send.
        .env("LANGSMITH_ENDPOINT", "http://127.0.0.1:9")
        .env("DO_NOT_TRACK", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|error| format!("cannot run {}: {error}", script.display()))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).map_err(|error| error.to_string())?;
    }
    let output = child.wait_with_output().map_err(|error| error.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{} failed ({}):\n{stderr}", script.display(), output.status));
    }
    eprint!("{stderr}");
    String::from_utf8(output.stdout).map_err(|error| error.to_string())
}
