//! Draws a JSON Lines trace file — what `RUNTRACE_TRACE=runs.jsonl` or a `JsonlExporter`
//! writes — as indented trees, one line per run: its kind, name, duration, the chunks it
//! streamed, the tokens it billed and their cost, and its error in red; then each trace's
//! total tokens and cost.
//!
//! ```text
//! RUNTRACE_TRACE=runs.jsonl cargo run --example usage
//! cargo run --example trace_view -- runs.jsonl --prices prices.json
//!
//! chain research  42.8ms
//! ├── chat_model OpenAi::complete  21.3ms  62+10 tokens  $0.000013
//! └── chat_model OpenAi::complete  21.3ms  102+19 tokens  $0.000024
//! total: 164+29 tokens  $0.000037
//! ```
//!
//! `--prices` names a JSON file of prices per million tokens by model, as a `PriceTable`
//! reads it: `{"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}`.
//! Without it, tokens are shown without their cost.
//!
//! Pass `-` to read standard input. A line that is not a run tree (the last one, torn by a
//! crash mid-write, even inside a multi-byte character) is skipped with a warning, and the
//! others are drawn. A trace exported in several trees (a deep one, or the finished requests
//! of a long-lived server run) is drawn tree by tree, each continuing a run of an earlier
//! or later one. Colours are on when standard output is a terminal and `NO_COLOR` is not set.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

use runtrace::handlers::PriceTable;
use runtrace::tracer::{JsonlReader, ReadError, RunTree};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, prices) = match &args[..] {
        [path] => (path, None),
        [path, flag, prices] if flag == "--prices" => match read_prices(prices) {
            Ok(prices) => (path, Some(prices)),
            Err(error) => {
                eprintln!("trace_view: {prices}: {error}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("usage: cargo run --example trace_view -- <runs.jsonl | -> [--prices prices.json]");
            return ExitCode::from(2);
        }
    };
    let input: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(path) {
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
        let view = tree.view().with_color(color);
        text.push_str(&match &prices {
            Some(prices) => view.with_prices(prices).to_string(),
            None => view.to_string(),
        });
        // A closed pipe (`| head`) is not an error worth a panic, nor worth drawing the rest.
        if out.write_all(text.as_bytes()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}

fn read_prices(path: &str) -> Result<PriceTable, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&std::fs::read(path)?)?)
}
