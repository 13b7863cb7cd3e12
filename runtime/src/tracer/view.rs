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

    /// One line for `run`: `lasts` says, of each run from a child of the root down to `run`,
    /// whether it is its parent's last child (empty for the root).
    fn line(&self, f: &mut fmt::Formatter<'_>, run: &RunTree, lasts: &[bool]) -> fmt::Result {
        // Past `MAX_RAILS` levels only the deepest rails are drawn, after a mark: a chain of
        // runs thousands of levels deep would otherwise draw lines of thousands of rails.
        let (ancestors, own) = match lasts.split_last() {
            None => (lasts, None),
            Some((own, ancestors)) => (ancestors, Some(*own)),
        };
        if ancestors.len() > MAX_RAILS {
            write!(f, "⋯ ")?;
        }
        for &last in &ancestors[ancestors.len().saturating_sub(MAX_RAILS)..] {
            f.write_str(if last { "    " } else { "│   " })?;
        }
        match own {
            None => {}
            Some(true) => f.write_str("└── ")?,
            Some(false) => f.write_str("├── ")?,
        }
        write!(f, "{} {}", self.paint("36", run.run_type.as_str()), self.paint("1", &run.name))?;
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
        writeln!(f)
    }
}

/// The most levels of rails a line draws.
const MAX_RAILS: usize = 32;

impl fmt::Display for TreeView<'_> {
    /// A loop over a stack of runs to draw, each with its depth and whether it is its
    /// parent's last child: trees may be deeper than the thread's stack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stack = vec![(self.tree, 0, false)];
        // Whether each run on the path from the root's children down to the current one is
        // its parent's last child.
        let mut lasts: Vec<bool> = Vec::new();
        while let Some((run, depth, last)) = stack.pop() {
            if depth > 0 {
                lasts.truncate(depth - 1);
                lasts.push(last);
            }
            self.line(f, run, &lasts)?;
            let children = run.child_runs.len();
            stack.extend(
                run.child_runs.iter().enumerate().rev().map(|(index, child)| (child, depth + 1, index + 1 == children)),
            );
        }
        Ok(())
    }
}
