//! [`TreeView`]: a run tree drawn for people, one line per run.

use std::fmt;

use serde_json::Value;

use super::run_tree::RunTree;
use crate::handlers::{Elapsed, PriceTable};

/// A [`RunTree`] drawn as an indented tree: each run's kind, name, duration, the chunks it
/// streamed, the tokens it billed (and their cost, [`with_prices`](TreeView::with_prices))
/// and, in red, its error; then the trace's total tokens and cost. Made by [`RunTree::view`].
///
/// ```text
/// chain answer  81.2ms
/// ├── tool calculator  19µs
/// └── llm fake_llm  80.9ms  5 chunks  12+5 tokens  $0.000005
/// total: 12+5 tokens  $0.000005
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
    prices: Option<&'a PriceTable>,
}

impl RunTree {
    /// This tree drawn for people, without colours; see [`TreeView`].
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (result, trees) = collect_runs(|| {
    ///     let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.end(&"4")
    /// });
    /// result?;
    /// let drawn = trees[0].view().to_string();
    /// assert!(drawn.contains("└── tool calculator"));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn view(&self) -> TreeView<'_> {
        TreeView { tree: self, color: false, prices: None }
    }
}

impl<'a> TreeView<'a> {
    /// Turns ANSI colours on or off.
    ///
    /// ```
    /// use std::io::IsTerminal;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     CallbackManager::none().start_run(RunKind::Tool, "search", &"rust")?.error("the index is offline")
    /// });
    /// let plain = trees[0].view().to_string();
    /// assert!(plain.contains("the index is offline") && !plain.contains('\x1b'));
    /// assert!(trees[0].view().with_color(true).to_string().contains("\x1b["));
    /// // Colours only where a person reads them.
    /// println!("{}", trees[0].view().with_color(std::io::stdout().is_terminal()));
    /// ```
    #[must_use]
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// Prices the tokens model runs billed with `prices`: each run's cost and the trace's.
    /// A model missing from the table is shown as unpriced, and so is a total with such a run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ModelRequest, Usage};
    /// use runtrace_runtime::handlers::{Price, PriceTable};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let request = || ModelRequest::new("gpt-4o-mini");
    ///     let llm = CallbackManager::none().start_model_run(RunKind::Llm, "fake_llm", &"hi", &request)?;
    ///     llm.report_usage(Usage::new(1_000_000, 0))?;
    ///     llm.end(&"hello")
    /// });
    /// let prices = PriceTable::new().with_model("gpt-4o-mini", Price::per_million(0.15, 0.60));
    /// let drawn = trees[0].view().with_prices(&prices).to_string();
    /// assert!(drawn.contains("1000000+0 tokens  $0.150000"), "{drawn}");
    /// ```
    #[must_use]
    pub fn with_prices<'p>(self, prices: &'p PriceTable) -> TreeView<'p>
    where
        'a: 'p,
    {
        TreeView { tree: self.tree, color: self.color, prices: Some(prices) }
    }

    /// The cost of `run`'s own usage: `Some(None)` when unpriced, `None` without a table or
    /// usage.
    fn cost(&self, run: &RunTree) -> Option<Option<f64>> {
        let (prices, usage) = (self.prices?, run.usage_metadata?);
        let answered = run.extra.get("response").and_then(|response| response.get("model"));
        let model = answered.or_else(|| run.metadata.get("ls_model_name")).and_then(Value::as_str);
        Some(model.and_then(|model| prices.cost(model, &usage)))
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
            1 => write!(f, "  1 chunk")?,
            chunks => write!(f, "  {chunks} chunks")?,
        }
        if let Some(usage) = run.usage_metadata {
            write!(f, "  {}+{} tokens", usage.input_tokens, usage.output_tokens)?;
        }
        if let Some(cost) = self.cost(run) {
            f.write_str("  ")?;
            write_cost(f, cost)?;
        }
        if let Some(error) = &run.error {
            let first_line = error.lines().next().unwrap_or_default();
            write!(f, "  {}", self.paint("1;31", &format!("✗ {first_line}")))?;
        }
        writeln!(f)
    }
}

/// `$0.000123`, or `unpriced` for tokens of a model the price table lacks.
fn write_cost(f: &mut fmt::Formatter<'_>, dollars: Option<f64>) -> fmt::Result {
    match dollars {
        Some(dollars) => write!(f, "${dollars:.6}"),
        None => f.write_str("unpriced"),
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
        if let Some(total) = self.tree.total_usage() {
            write!(f, "total: {}+{} tokens", total.input_tokens, total.output_tokens)?;
            if self.prices.is_some() {
                let costs: Option<Vec<f64>> = self.tree.runs().filter_map(|run| self.cost(run)).collect();
                f.write_str("  ")?;
                write_cost(f, costs.map(|costs| costs.iter().sum()))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
