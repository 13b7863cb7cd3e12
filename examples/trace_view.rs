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
//! crash mid-write, even inside a multi-byte character) is skipped with a warning, and the
//! others are drawn. A trace exported in several trees (a deep one, or the finished requests
//! of a long-lived server run) is drawn tree by tree, each continuing a run of an earlier
//! or later one. Colours are on when standard output is a terminal and `NO_COLOR` is not set.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

use runtrace::tracer::{JsonlReader, ReadError, RunTree};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example trace_view -- <runs.jsonl | ->");
        return ExitCode::from(2);
    };
    let input: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&path) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(error) => {
                eprintln!("trace_view: {path}: {error}");
                return ExitCode::FAILURE;
            }
        }
    };
    // Line by line, as bytes: one bad line costs that tree only, not the file.
    let mut trees: Vec<RunTree> = Vec::new();
    for tree in JsonlReader::new(input) {
        match tree {
            Ok(tree) => trees.push(tree),
            Err(ReadError::Line { line, source }) => {
                eprintln!("trace_view: {path}: line {line} is not a run tree, skipped: {source}");
            }
            Err(error) => {
                eprintln!("trace_view: {path}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (index, tree) in trees.iter().enumerate() {
        let mut text = String::new();
        if index > 0 {
            text.push('\n');
        }
        if let Some(parent) = tree.parent_run_id {
            let note = format!("↳ continues run {parent} of trace {}", tree.trace_id);
            text.push_str(&if color { format!("\x1b[2m{note}\x1b[0m\n") } else { format!("{note}\n") });
        }
        text.push_str(&tree.view().with_color(color).to_string());
        // A closed pipe (`| head`) is not an error worth a panic, nor worth drawing the rest.
        if out.write_all(text.as_bytes()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
