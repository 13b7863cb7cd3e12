//! [`TreeView`]: a run tree drawn for people, one line per run.

use std::fmt;

use super::run_tree::RunTree;
use crate::handlers::Elapsed;

/// A [`RunTree`] drawn as an indented tree: each run's kind, name, duration, the tokens it
/// streamed and, in red, its error. Made by [`RunTree::view`].
///
/// ```text
/// chain answer  81.2ms
/// ├── tool calculator  19µs
/// └── llm fake_llm  80.9ms  5 tokens
/// ```
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::collect_runs;
///
/// let ((), trees) = collect_runs(|| {
///     let run = CallbackManager::none().start_run(RunKind::Chain, "answer", &"hi").expect("no handler raises");
///     run.end(&"hello").expect("no handler raises");
/// });
/// let drawn = trees[0].view().to_string();
/// assert!(drawn.starts_with("chain answer  "));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TreeView<'a> {
    tree: &'a RunTree,
    color: bool,
}

impl RunTree {
    /// This tree drawn for people, without colours; see [`TreeView`].
    #[must_use]
    pub fn view(&self) -> TreeView<'_> {
        TreeView { tree: self, color: false }
    }
}

impl TreeView<'_> {
    /// Turns ANSI colours on or off.
    #[must_use]
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// One line for `run`, then its children below it. `last` is `None` for the root, else
    /// whether `run` is its parent's last child.
    fn draw(&self, f: &mut fmt::Formatter<'_>, run: &RunTree, indent: &str, last: Option<bool>) -> fmt::Result {
        let branch = match last {
            None => "",
            Some(true) => "└── ",
            Some(false) => "├── ",
        };
        write!(f, "{indent}{branch}{} {}", self.paint("36", run.run_type.as_str()), self.paint("1", &run.name))?;
        match run.duration() {
            Some(duration) => write!(f, "  {}", Elapsed(duration))?,
            None => write!(f, "  {}", self.paint("33", "unfinished"))?,
        }
        match run.token_count() {
            0 => {}
            1 => write!(f, "  1 token")?,
            tokens => write!(f, "  {tokens} tokens")?,
        }
        if let Some(error) = &run.error {
            let first_line = error.lines().next().unwrap_or_default();
            write!(f, "  {}", self.paint("1;31", &format!("✗ {first_line}")))?;
        }
        writeln!(f)?;
        let child_indent = match last {
            None => String::new(),
            Some(true) => format!("{indent}    "),
            Some(false) => format!("{indent}│   "),
        };
        for (index, child) in run.child_runs.iter().enumerate() {
            self.draw(f, child, &child_indent, Some(index + 1 == run.child_runs.len()))?;
        }
        Ok(())
    }
}

impl fmt::Display for TreeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.draw(f, self.tree, "", None)
    }
}
