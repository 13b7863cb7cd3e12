//! [`TokenBudget`]: stops the runs it hears once they spent more tokens than allowed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::event::{Event, RunEnd, RunError, RunId, RunStart, Usage};
use crate::handler::{CallbackHandler, HandlerResult, Ignore};

/// A handler that raises once the runs it hears spent more than `limit` tokens, which stops
/// the run at hand: its code gets a [`CallbackError`](crate::CallbackError) whose
/// [`handler_error`](crate::CallbackError::handler_error) downcasts to [`BudgetExceeded`], and
/// the run, ended with that error, is recorded as
/// [`Stopped`](crate::event::ErrorCause::Stopped), the usage it reported so far kept.
///
/// - [`billed`](Self::billed) counts the tokens model runs report (their usage: the last
///   report of each run, so running totals are not counted twice). It raises at the usage
///   report that crosses the limit, and at the start of every run after.
/// - [`streamed`](Self::streamed) counts streamed tokens (`on_llm_new_token` calls), and
///   raises at the token past the limit.
///
/// Every handler of the run hears the event that crossed the limit, those added after the
/// budget too: a raising handler's failure is returned after the event reached them all.
///
/// One budget counts every run it hears: give each request its own (in its callbacks) for a
/// per-request budget, or share one for a global one.
///
/// ```
/// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{BudgetExceeded, TokenBudget};
///
/// let callbacks = CallbackManager::new().with_handler(TokenBudget::streamed(2));
/// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
/// run.on_llm_new_token("Hel")?;
/// run.on_llm_new_token("lo")?;
/// let stop = run.on_llm_new_token("!").unwrap_err();
/// let exceeded = stop.handler_error().and_then(|e| e.downcast_ref::<BudgetExceeded>());
/// assert_eq!(exceeded.map(|e| (e.limit, e.used)), Some((2, 3)));
/// run.error(&stop)?;
/// # Ok::<(), CallbackError>(())
/// ```
#[derive(Debug)]
pub struct TokenBudget {
    limit: u64,
    counts: Counts,
    spent: Mutex<Spent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counts {
    Billed,
    Streamed,
}

#[derive(Debug, Default)]
struct Spent {
    /// The tokens of ended runs, or streamed so far.
    settled: u64,
    /// The last usage each open model run reported.
    open: HashMap<RunId, u64>,
}

impl Spent {
    fn total(&self) -> u64 {
        self.open.values().fold(self.settled, |total, tokens| total.saturating_add(*tokens))
    }
}

/// The error a [`TokenBudget`] raises: the limit, and the tokens spent when it was crossed.
///
/// ```
/// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{BudgetExceeded, TokenBudget};
///
/// let run = CallbackManager::new().with_handler(TokenBudget::streamed(1)).start_run(RunKind::Llm, "fake_llm", &"hi")?;
/// run.on_llm_new_token("Hel")?;
/// let stop = run.on_llm_new_token("lo").unwrap_err();
/// let exceeded = stop.handler_error().and_then(|e| e.downcast_ref::<BudgetExceeded>());
/// assert_eq!(exceeded.map(ToString::to_string).as_deref(), Some("token budget of 1 exceeded: 2 tokens spent"));
/// run.error(&stop)?;
/// # Ok::<(), CallbackError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetExceeded {
    /// The budget.
    pub limit: u64,
    /// The tokens spent, more than the budget.
    pub used: u64,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token budget of {} exceeded: {} tokens spent", self.limit, self.used)
    }
}

impl std::error::Error for BudgetExceeded {}

impl TokenBudget {
    /// A budget of `limit` tokens billed by model runs (their reported usage).
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::TokenBudget;
    ///
    /// let callbacks = CallbackManager::new().with_handler(TokenBudget::billed(100));
    /// let run = callbacks.start_run(RunKind::ChatModel, "chat", &"hi")?;
    /// run.report_usage(Usage::new(60, 20))?; // 80 tokens: within the budget
    /// let stop = run.report_usage(Usage::new(60, 50)).unwrap_err(); // a running total of 110
    /// run.error(&stop)?;
    /// # Ok::<(), CallbackError>(())
    /// ```
    #[must_use]
    pub fn billed(limit: u64) -> TokenBudget {
        TokenBudget { limit, counts: Counts::Billed, spent: Mutex::default() }
    }

    /// A budget of `limit` streamed tokens.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::TokenBudget;
    ///
    /// let budget = Arc::new(TokenBudget::streamed(10));
    /// let run = CallbackManager::new().with_handler(budget.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// run.on_llm_new_token("lo")?;
    /// assert_eq!(budget.used(), 2);
    /// # run.end(&"Hello")?;
    /// # Ok::<(), CallbackError>(())
    /// ```
    #[must_use]
    pub fn streamed(limit: u64) -> TokenBudget {
        TokenBudget { limit, counts: Counts::Streamed, spent: Mutex::default() }
    }

    /// The tokens spent so far, as this budget counts them.
    ///
    /// A model run's usage reports are running totals: only its last one counts.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::TokenBudget;
    ///
    /// let budget = Arc::new(TokenBudget::billed(1_000));
    /// let run = CallbackManager::new().with_handler(budget.clone()).start_run(RunKind::ChatModel, "chat", &"hi")?;
    /// run.report_usage(Usage::new(60, 20))?;
    /// run.report_usage(Usage::new(60, 50))?;
    /// run.end(&"Hello")?;
    /// assert_eq!(budget.used(), 110);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn used(&self) -> u64 {
        self.spent().total()
    }

    fn spent(&self) -> MutexGuard<'_, Spent> {
        self.spent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, spent: &Spent) -> HandlerResult {
        let used = spent.total();
        if used > self.limit { Err(Box::new(BudgetExceeded { limit: self.limit, used })) } else { Ok(()) }
    }

    /// Settles an ended run's usage: its final one, or the last it reported.
    fn settle(&self, run_id: RunId, usage: Option<Usage>) {
        let mut spent = self.spent();
        let reported = spent.open.remove(&run_id);
        if let Some(tokens) = usage.map(|usage| usage.total_tokens).or(reported) {
            spent.settled = spent.settled.saturating_add(tokens);
        }
    }
}

impl CallbackHandler for TokenBudget {
    fn on_run_start(&self, _event: &Event<'_>, _start: &RunStart<'_>) -> HandlerResult {
        self.check(&self.spent())
    }

    fn on_llm_new_token(&self, _event: &Event<'_>, _token: &str) -> HandlerResult {
        if self.counts != Counts::Streamed {
            return Ok(());
        }
        let mut spent = self.spent();
        spent.settled = spent.settled.saturating_add(1);
        self.check(&spent)
    }

    fn on_usage(&self, event: &Event<'_>, usage: &Usage) -> HandlerResult {
        if self.counts != Counts::Billed {
            return Ok(());
        }
        let mut spent = self.spent();
        spent.open.insert(event.run.run_id, usage.total_tokens);
        self.check(&spent)
    }

    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        if self.counts == Counts::Billed {
            self.settle(event.run.run_id, end.model.as_ref().and_then(|model| model.usage));
        }
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, _error: &RunError) -> HandlerResult {
        if self.counts == Counts::Billed {
            self.settle(event.run.run_id, None);
        }
        Ok(())
    }

    fn ignore(&self) -> Ignore {
        Ignore::RETRIES | Ignore::CUSTOM_EVENTS
    }

    fn raise_error(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        "TokenBudget"
    }
}
