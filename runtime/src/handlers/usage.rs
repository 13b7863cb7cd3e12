//! [`UsageTracker`]: the tokens billed by every model run it hears, totalled per model
//! (LangChain's `UsageMetadataCallbackHandler`), and their cost from a [`PriceTable`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::price::{Cost, PriceTable};
use crate::event::{Event, ModelOutcome, RunEnd, RunError, RunId, RunStart, Usage};
use crate::handler::{CallbackHandler, HandlerResult, Ignore};

/// Totals of the tokens billed by the model runs it hears, per model; safe to share across
/// concurrent requests (behind an `Arc`) and readable while they run.
///
/// A run counts once, when it ends: with the usage of its end event (the last one it
/// reported, or its returned [`ModelOutput`](crate::event::ModelOutput)'s), or, when it
/// fails, with the last usage it reported before. A run is filed under the model its
/// response names, else the model it asked for, else `"unknown"` (exactly: see
/// [`usage_by_model`](Self::usage_by_model)).
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::event::{ModelRequest, Usage};
/// use runtrace_runtime::handlers::{Price, PriceTable, UsageTracker};
///
/// let prices = PriceTable::new().with_model("gpt-4o-mini", Price::per_million(0.15, 0.60));
/// let tracker = Arc::new(UsageTracker::new().with_prices(prices));
/// let callbacks = CallbackManager::new().with_handler(tracker.clone());
///
/// let request = || ModelRequest::new("gpt-4o-mini");
/// let run = callbacks.start_model_run(RunKind::ChatModel, "chat", &"hi", &request)?;
/// run.report_usage(Usage::new(1_000_000, 100_000))?;
/// run.end(&"Hello")?;
///
/// assert_eq!(tracker.total(), Usage::new(1_000_000, 100_000));
/// let cost = &tracker.cost_by_model()["gpt-4o-mini"];
/// assert!((cost.dollars.unwrap() - 0.21).abs() < 1e-9);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Debug, Default)]
pub struct UsageTracker {
    state: Mutex<Totals>,
    prices: Option<PriceTable>,
}

#[derive(Debug, Default)]
struct Totals {
    /// Model runs started and not ended: the model they asked for, the usage so far.
    open: HashMap<RunId, (Option<String>, Option<Usage>)>,
    by_model: BTreeMap<String, Usage>,
}

impl UsageTracker {
    /// A tracker with no totals yet.
    #[must_use]
    pub fn new() -> UsageTracker {
        UsageTracker::default()
    }

    /// Prices its models with `prices`, for [`cost_by_model`](Self::cost_by_model).
    ///
    /// ```
    /// use runtrace_runtime::handlers::{Price, PriceTable, UsageTracker};
    ///
    /// let prices = PriceTable::new().with_model("gpt-4o", Price::per_million(2.50, 10.00));
    /// let tracker = UsageTracker::new().with_prices(prices);
    /// assert!(tracker.cost_by_model().is_empty()); // no run ended yet
    /// ```
    #[must_use]
    pub fn with_prices(mut self, prices: PriceTable) -> UsageTracker {
        self.prices = Some(prices);
        self
    }

    /// The tokens billed so far, per model. A run that reported usage is filed under:
    ///
    /// - the model its response names, which may be a dated version of the one it asked for;
    /// - else the model its request asked for
    ///   ([`start_model_run`](crate::CallbackManager::start_model_run));
    /// - else the key `"unknown"`: a run that named no model, such as one started with
    ///   [`start_run`](crate::CallbackManager::start_run) that reported no response naming one.
    ///
    /// A run that failed is filed by its request alone, as the response comes with the end
    /// event it never sent. A run that reported no usage is not filed, under any key.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ModelRequest, ModelResponse, Usage};
    /// use runtrace_runtime::handlers::UsageTracker;
    ///
    /// let tracker = Arc::new(UsageTracker::new());
    /// let callbacks = CallbackManager::new().with_handler(tracker.clone());
    /// let run = callbacks.start_model_run(RunKind::ChatModel, "chat", &"hi", &|| ModelRequest::new("gpt-4o-mini"))?;
    /// run.report_response(ModelResponse::new().with_model("gpt-4o-mini-2024-07-18"));
    /// run.report_usage(Usage::new(12, 5))?;
    /// run.end(&"Hello")?;
    /// let embed = callbacks.start_run(RunKind::Embedding, "embed", &["hi"])?;
    /// embed.report_usage(Usage::new(2, 0))?;
    /// embed.end(&[[0.1, 0.2]])?;
    ///
    /// let by_model = tracker.usage_by_model();
    /// assert_eq!(by_model["gpt-4o-mini-2024-07-18"], Usage::new(12, 5));
    /// assert_eq!(by_model["unknown"], Usage::new(2, 0), "the embedding named no model");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn usage_by_model(&self) -> BTreeMap<String, Usage> {
        self.totals().by_model.clone()
    }

    /// The tokens billed so far, all models together.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ModelRequest, Usage};
    /// use runtrace_runtime::handlers::UsageTracker;
    ///
    /// let tracker = Arc::new(UsageTracker::new());
    /// let callbacks = CallbackManager::new().with_handler(tracker.clone());
    /// for (model, usage) in [("gpt-4o", Usage::new(100, 20)), ("gpt-4o-mini", Usage::new(40, 10))] {
    ///     let run = callbacks.start_model_run(RunKind::Llm, "fake_llm", &"hi", &|| ModelRequest::new(model))?;
    ///     run.report_usage(usage)?;
    ///     run.end(&"hello")?;
    /// }
    /// assert_eq!(tracker.total(), Usage::new(140, 30));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn total(&self) -> Usage {
        self.totals().by_model.values().fold(Usage::default(), |total, usage| total + *usage)
    }

    /// What each model's tokens cost, by the price table given with
    /// [`with_prices`](Self::with_prices); a model it has no price for (or every model,
    /// without a table) is unpriced: [`Cost::dollars`] is `None`, never zero.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{ModelRequest, Usage};
    /// use runtrace_runtime::handlers::UsageTracker;
    ///
    /// let tracker = Arc::new(UsageTracker::new()); // no price table
    /// let callbacks = CallbackManager::new().with_handler(tracker.clone());
    /// let run = callbacks.start_model_run(RunKind::ChatModel, "chat", &"hi", &|| ModelRequest::new("gpt-4o"))?;
    /// run.report_usage(Usage::new(12, 5))?;
    /// run.end(&"Hello")?;
    /// let cost = &tracker.cost_by_model()["gpt-4o"];
    /// assert_eq!((cost.usage, cost.dollars), (Usage::new(12, 5), None)); // unpriced, not free
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn cost_by_model(&self) -> BTreeMap<String, Cost> {
        self.totals()
            .by_model
            .iter()
            .map(|(model, usage)| {
                let dollars = self.prices.as_ref().and_then(|prices| prices.cost(model, usage));
                (model.clone(), Cost { usage: *usage, dollars })
            })
            .collect()
    }

    fn totals(&self) -> MutexGuard<'_, Totals> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Files the usage of an ended run under its model.
    fn count(&self, run_id: RunId, outcome: Option<&ModelOutcome>) {
        let mut totals = self.totals();
        let Some((asked, reported)) = totals.open.remove(&run_id) else { return };
        let usage = outcome.and_then(|outcome| outcome.usage).or(reported);
        let Some(usage) = usage else { return };
        let answered =
            outcome.and_then(|outcome| outcome.response.as_ref()).and_then(|response| response.model.clone());
        let model = answered.or(asked).unwrap_or_else(|| "unknown".to_owned());
        *totals.by_model.entry(model).or_default() += usage;
    }
}

impl CallbackHandler for UsageTracker {
    fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
        let asked = start.model.as_ref().and_then(|request| request.model.clone());
        self.totals().open.insert(event.run.run_id, (asked, None));
        Ok(())
    }

    fn on_usage(&self, event: &Event<'_>, usage: &Usage) -> HandlerResult {
        if let Some((_, reported)) = self.totals().open.get_mut(&event.run.run_id) {
            *reported = Some(*usage);
        }
        Ok(())
    }

    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        self.count(event.run.run_id, end.model.as_deref());
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, _error: &RunError) -> HandlerResult {
        self.count(event.run.run_id, None);
        Ok(())
    }

    fn ignore(&self) -> Ignore {
        Ignore::NON_MODEL_RUNS | Ignore::RETRIES | Ignore::CUSTOM_EVENTS
    }
}
