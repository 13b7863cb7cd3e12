//! Draws a JSON Lines trace file — what `RUNTRACE_TRACE=runs.jsonl` or a `JsonlExporter`
//! writes — as indented trees, one line per run: its kind, name, duration, the tokens it
//! streamed, and its error in red.
//!
//! ```text
//! RUNTRACE_TRACE=runs.jsonl cargo run --example agent
//! cargo run --example trace_view -- runs.jsonl
//!
//! chain answer  12.4ms
//! ├── tool calculator  81µs
//! ├── retriever docs  2.1ms  ✗ index unavailable
//! └── llm fake_llm  1.20ms  2 tokens
//! ```
//!
//! Pass `-` to read standard input. A line that is not a run tree (the last one, torn by a
//! crash mid-write) is skipped with a warning. Colours are on when standard output is a
//! terminal and `NO_COLOR` is not set.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use runtrace::tracer::RunTree;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example trace_view -- <runs.jsonl | ->");
        return ExitCode::from(2);
    };
    let text = if path == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(&path) };
    let text = match text {
        Ok(text) => text,
        Err(error) => {
            eprintln!("trace_view: {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Line by line, so that one bad line (the last one, torn by a crash mid-write) costs
    // that tree only, not the file.
    let mut trees = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        match serde_json::from_str::<RunTree>(line) {
            Ok(tree) => trees.push(tree),
            Err(error) => eprintln!("trace_view: {path}: line {} is not a run tree, skipped: {error}", number + 1),
        }
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = String::new();
    for (index, tree) in trees.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if let Some(parent) = tree.parent_run_id {
            let note = format!("↳ continues run {parent} of trace {}", tree.trace_id);
            out.push_str(&if color { format!("\x1b[2m{note}\x1b[0m\n") } else { format!("{note}\n") });
        }
        out.push_str(&tree.view().with_color(color).to_string());
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    ExitCode::SUCCESS
}
