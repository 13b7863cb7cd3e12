//! [`ConsoleHandler`]: one readable line per event, what `verbose` adds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::event::{Event, EventData, ModelOutcome, ModelRequest, RunId, Usage};
use crate::handler::{CallbackHandler, HandlerResult};

/// Prints one line per event, with the run's breadcrumb path and elapsed time:
///
/// ```text
/// [chain/start] [1:chain:answer] Entering chain run with input: {"question":"hi"}
/// [tool/end] [1:chain:answer > 2:tool:calculator] [81µs] Exiting tool run with output: 4.0
/// ```
///
/// Colours are on when standard output is a terminal and `NO_COLOR` is not set.
///
/// A path deeper than six runs prints its root run, `…`, and its last five runs, so that the
/// lines of a deep recursion stay readable; each run's number says how deep it is.
///
/// It prints as `print!` does, so `cargo test` captures its lines as it captures a test's
/// own output. If standard output is closed, it fails once (`print!` panics, and the panic
/// hook prints that once), the failure is reported, and it prints nothing more while the runs
/// go on.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::ConsoleHandler;
///
/// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new());
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
pub struct ConsoleHandler {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
    runs: Mutex<HashMap<RunId, Arc<Crumb>>>,
}

/// A run's place in its breadcrumb path: its own segment and a link to its parent's, so that
/// a run `n` deep costs one segment, not the path of `n` (a copy of every path made the
/// breadcrumbs of a 20,000-deep recursion take gigabytes). A crumb stays while a run below
/// it is open, even after its own run ended.
struct Crumb {
    /// `depth:kind:name`.
    segment: String,
    depth: usize,
    parent: Option<Arc<Crumb>>,
    /// The path's first crumb, which a deep path prints before its `…`; `None` for a root.
    root: Option<Arc<Crumb>>,
    started: Instant,
}

/// How many runs a path prints before it is shortened with `…`.
const SHOWN: usize = 6;

impl Crumb {
    /// The path from the root to this crumb, shortened past [`SHOWN`] runs.
    fn path(&self) -> String {
        let mut last = Vec::with_capacity(SHOWN);
        let mut crumb = Some(self);
        while let Some(at) = crumb {
            if last.len() == SHOWN - 1 && self.depth > SHOWN {
                break;
            }
            last.push(at.segment.as_str());
            crumb = at.parent.as_deref();
        }
        let mut path = String::new();
        if self.depth > SHOWN {
            let root = self.root.as_deref().map_or(self.segment.as_str(), |root| root.segment.as_str());
            path.push_str(root);
            path.push_str(" > …");
        }
        for segment in last.iter().rev() {
            if !path.is_empty() {
                path.push_str(" > ");
            }
            path.push_str(segment);
        }
        path
    }
}

impl Drop for Crumb {
    // Ended runs' crumbs that only their child held go with it: freed in a loop, as a
    // recursive drop of a deep chain would overflow the stack.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(crumb) = parent {
            parent = Arc::into_inner(crumb).and_then(|mut crumb| crumb.parent.take());
        }
    }
}

const GREEN: &str = "\x1b[1;32m";
const BLUE: &str = "\x1b[1;34m";
const RED: &str = "\x1b[1;31m";
const DIM: &str = "\x1b[2m";
const YELLOW: &str = "\x1b[1;33m";
const RESET: &str = "\x1b[0m";

impl ConsoleHandler {
    /// Prints to standard output, through `print!`.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::ConsoleHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new());
    /// let run = callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?; // prints the start
    /// assert!(run.is_recording());
    /// run.end(&4)?; // prints the output
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        ConsoleHandler { out: Mutex::new(Box::new(Print)), color, runs: Mutex::default() }
    }

    /// Prints to `writer` instead, without colours (turn them back on with
    /// [`with_color`](Self::with_color)).
    ///
    /// ```
    /// let handler = runtrace_runtime::handlers::ConsoleHandler::new().with_writer(std::io::stderr());
    /// ```
    #[must_use]
    pub fn with_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.out = Mutex::new(Box::new(writer));
        self.color = false;
        self
    }

    /// Turns colours on or off.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::ConsoleHandler;
    ///
    /// // Plain text even on a terminal, for logs a person greps.
    /// let console = ConsoleHandler::new().with_color(false);
    /// assert_eq!(CallbackManager::new().with_handler(console).handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    fn runs(&self) -> MutexGuard<'_, HashMap<RunId, Arc<Crumb>>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The breadcrumb of the event's run and, once it ended, its elapsed time.
    fn locate(&self, event: &Event<'_>) -> (String, Option<Duration>) {
        let run = &event.run;
        let mut runs = self.runs();
        match &event.data {
            EventData::Start(_) => {
                let parent = run.parent_run_id.and_then(|parent| runs.get(&parent)).cloned();
                let depth = parent.as_ref().map_or(1, |parent| parent.depth + 1);
                let root = parent.as_ref().map(|parent| parent.root.clone().unwrap_or_else(|| Arc::clone(parent)));
                let segment = format!("{depth}:{}:{}", run.kind, run.name);
                let crumb = Crumb { segment, depth, parent, root, started: Instant::now() };
                let path = crumb.path();
                runs.insert(run.run_id, Arc::new(crumb));
                (path, None)
            }
            EventData::End(_) | EventData::Error(_) => match runs.remove(&run.run_id) {
                Some(crumb) => (crumb.path(), Some(crumb.started.elapsed())),
                None => (format!("?:{}:{}", run.kind, run.name), None),
            },
            _ => match runs.get(&run.run_id) {
                Some(crumb) => (crumb.path(), None),
                None => (format!("?:{}:{}", run.kind, run.name), None),
            },
        }
    }

    fn line(&self, event: &Event<'_>) -> String {
        let kind = event.run.kind;
        let (path, elapsed) = self.locate(event);
        let (label, color, text) = match &event.data {
            EventData::Start(start) => {
                let model = start.model.as_deref().map(model_of).unwrap_or_default();
                ("start", GREEN, format!("Entering {kind} run{model} with input: {}", start.inputs.get()))
            }
            EventData::End(end) => {
                let outcome = end.model.as_deref().map(outcome_of).unwrap_or_default();
                ("end", BLUE, format!("Exiting {kind} run with output: {}{outcome}", end.outputs.get()))
            }
            EventData::Error(error) => ("error", RED, format!("{kind} run failed: {}", error.message)),
            EventData::NewToken(token) => ("token", DIM, format!("{token:?}")),
            EventData::Text(text) => ("text", DIM, text.to_string()),
            EventData::Retry(retry) => ("retry", YELLOW, format!("attempt {}: {}", retry.attempt, retry.reason)),
            EventData::AgentAction(action) => {
                ("action", YELLOW, format!("calls tool `{}` with {}", action.tool, action.tool_input))
            }
            EventData::AgentFinish(finish) => ("finish", BLUE, format!("Agent finished with: {}", finish.output)),
            EventData::Custom(custom) => ("custom", YELLOW, format!("{}: {}", custom.name, custom.data)),
            EventData::Usage(usage) => ("usage", DIM, tokens(usage)),
            EventData::Metadata(metadata) => ("metadata", DIM, Value::Object(metadata.to_map()).to_string()),
        };
        let mut line = String::new();
        let (on, off) = if self.color { (color, RESET) } else { ("", "") };
        let _ = write!(line, "{on}[{kind}/{label}]{off} [{path}]");
        if let Some(elapsed) = elapsed {
            let _ = write!(line, " [{}]", Elapsed(elapsed));
        }
        let _ = write!(line, " {text}");
        line
    }
}

/// ` (gpt-4o-mini, openai)`: the model a model run asked for, and who serves it.
fn model_of(request: &ModelRequest) -> String {
    match (&request.model, &request.provider) {
        (Some(model), Some(provider)) => format!(" ({model}, {provider})"),
        (Some(name), None) | (None, Some(name)) => format!(" ({name})"),
        (None, None) => String::new(),
    }
}

/// ` [120 in + 30 out = 150 tokens, first token after 82ms]`: what a model run billed.
fn outcome_of(outcome: &ModelOutcome) -> String {
    let parts: Vec<String> = outcome
        .usage
        .as_ref()
        .map(tokens)
        .into_iter()
        .chain(outcome.time_to_first_token.map(|ttft| format!("first token after {}", Elapsed(ttft))))
        .collect();
    if parts.is_empty() { String::new() } else { format!(" [{}]", parts.join(", ")) }
}

/// `120 in + 30 out = 150 tokens`.
fn tokens(usage: &Usage) -> String {
    format!("{} in + {} out = {} tokens", usage.input_tokens, usage.output_tokens, usage.total_tokens)
}

/// Standard output through `print!`, which the test harness captures; `std::io::stdout()`
/// would bypass it and mix the handler's lines into `cargo test`'s report.
///
/// `print!` panics when standard output is closed (`program | head -1`), and the panic hook
/// prints each such panic, caught or not: after the first, this writes nothing more and
/// answers an error, so that a closed pipe costs one panic message, not one per event.
struct Print;

/// Standard output failed under `print!` once.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

impl Write for Print {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let closed = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "standard output failed");
        if STDOUT_FAILED.load(Ordering::Relaxed) {
            return Err(closed());
        }
        let printed = std::panic::catch_unwind(|| print!("{}", String::from_utf8_lossy(bytes)));
        if printed.is_err() {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            return Err(closed());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

impl Default for ConsoleHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ConsoleHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleHandler").field("color", &self.color).finish_non_exhaustive()
    }
}

impl CallbackHandler for ConsoleHandler {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let line = self.line(event);
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        writeln!(out, "{line}")?;
        Ok(())
    }
}

/// A duration as a person reads it: `81µs`, `12.3ms`, `1.20s`.
pub(crate) struct Elapsed(pub(crate) Duration);

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = self.0.as_secs_f64() * 1e6;
        if micros < 1_000.0 {
            write!(f, "{micros:.0}µs")
        } else if micros < 1_000_000.0 {
            write!(f, "{:.1}ms", micros / 1e3)
        } else {
            write!(f, "{:.2}s", micros / 1e6)
        }
    }
}
