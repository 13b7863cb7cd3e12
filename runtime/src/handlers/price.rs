//! [`PriceTable`]: what the user pays per million tokens, per model, and the [`Cost`] of a
//! usage by it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::Usage;

/// A model's prices, in dollars (or any currency) per million tokens.
///
/// ```
/// use runtrace_runtime::handlers::Price;
/// let price = Price::per_million(2.50, 10.00).with_cached_input(1.25);
/// assert_eq!(price.cached_input, Some(1.25));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Price {
    /// Per million input tokens.
    pub input: f64,
    /// Per million output tokens.
    pub output: f64,
    /// Per million input tokens read from the prompt cache; the input price when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

impl Price {
    /// `input` and `output` per million tokens.
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::Price;
    ///
    /// let gpt_4o = Price::per_million(2.50, 10.00);
    /// let dollars = gpt_4o.cost(&Usage::new(1_000, 500)); // 0.0025 for the prompt, 0.005 for the answer
    /// assert!((dollars - 0.0075).abs() < 1e-12);
    /// ```
    #[must_use]
    pub const fn per_million(input: f64, output: f64) -> Price {
        Price { input, output, cached_input: None }
    }

    /// The price of cached input tokens.
    #[must_use]
    pub const fn with_cached_input(mut self, per_million: f64) -> Price {
        self.cached_input = Some(per_million);
        self
    }

    /// What `usage` costs at these prices. Cached tokens are part of the input count, priced
    /// at the cached price; reasoning tokens are part of the output count.
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::Price;
    ///
    /// let price = Price::per_million(2.50, 10.00).with_cached_input(1.25);
    /// let usage = Usage::new(1_000_000, 0).with_cache_read(800_000);
    /// // 200,000 fresh input tokens at 2.50, 800,000 cached ones at 1.25.
    /// assert!((price.cost(&usage) - 1.50).abs() < 1e-9);
    /// ```
    #[must_use]
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cache_read_tokens.unwrap_or(0).min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        let per_token = |count: u64, per_million: f64| count as f64 * per_million / 1_000_000.0;
        per_token(fresh, self.input)
            + per_token(cached, self.cached_input.unwrap_or(self.input))
            + per_token(usage.output_tokens, self.output)
    }
}

/// The prices the user pays, per model.
///
/// A model is found by its exact name, else by the longest name in the table it starts with,
/// so that `gpt-4o-mini` prices the dated `gpt-4o-mini-2024-07-18` a provider answers with. A
/// model it has no price for is unpriced: [`cost`](Self::cost) is `None`, never zero. As
/// JSON it is an object of prices by model name: `{"gpt-4o": {"input": 2.5, "output": 10.0}}`.
///
/// ```
/// use runtrace_runtime::event::Usage;
/// use runtrace_runtime::handlers::{Price, PriceTable};
///
/// let prices = PriceTable::new()
///     .with_model("gpt-4o", Price::per_million(2.50, 10.00))
///     .with_model("gpt-4o-mini", Price::per_million(0.15, 0.60));
/// let usage = Usage::new(1_000_000, 0);
/// assert_eq!(prices.cost("gpt-4o-mini-2024-07-18", &usage), Some(0.15));
/// assert_eq!(prices.cost("claude-sonnet-4", &usage), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    models: BTreeMap<String, Price>,
}

impl PriceTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    /// Prices `model` (replacing an earlier price of the same name).
    ///
    /// ```
    /// use runtrace_runtime::handlers::{Price, PriceTable};
    ///
    /// let prices = PriceTable::new()
    ///     .with_model("gpt-4o", Price::per_million(5.00, 15.00))
    ///     .with_model("gpt-4o", Price::per_million(2.50, 10.00)); // replaces the first
    /// assert_eq!(prices.price("gpt-4o"), Some(&Price::per_million(2.50, 10.00)));
    /// ```
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>, price: Price) -> PriceTable {
        self.models.insert(model.into(), price);
        self
    }

    /// The price of `model`: its own, or that of the longest name it starts with.
    ///
    /// ```
    /// use runtrace_runtime::handlers::{Price, PriceTable};
    ///
    /// let prices: PriceTable = serde_json::from_str(
    ///     r#"{"gpt-4o": {"input": 2.5, "output": 10.0}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}}"#,
    /// )?;
    /// assert_eq!(prices.price("gpt-4o-mini-2024-07-18"), Some(&Price::per_million(0.15, 0.6)), "the longest prefix");
    /// assert_eq!(prices.price("gpt-4o-2024-08-06"), Some(&Price::per_million(2.5, 10.0)));
    /// assert_eq!(prices.price("o3"), None);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn price(&self, model: &str) -> Option<&Price> {
        // Of the names `model` starts with, each is a prefix of the next in the map's order, so
        // the last one is the longest.
        self.models.get(model).or_else(|| {
            self.models.iter().rev().find(|(name, _)| model.starts_with(name.as_str())).map(|(_, price)| price)
        })
    }

    /// What `usage` of `model` costs; `None` for a model it has no price for.
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::{Price, PriceTable};
    ///
    /// let prices = PriceTable::new().with_model("gpt-4o", Price::per_million(2.50, 10.00));
    /// assert_eq!(prices.cost("gpt-4o", &Usage::new(1_000_000, 100_000)), Some(3.50));
    /// assert_eq!(prices.cost("o3", &Usage::new(1_000_000, 0)), None);
    /// ```
    #[must_use]
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.price(model).map(|price| price.cost(usage))
    }
}

/// Tokens and what they cost.
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
/// for model in ["gpt-4o-mini", "claude-sonnet-4"] {
///     let run = callbacks.start_model_run(RunKind::ChatModel, "chat", &"hi", &|| ModelRequest::new(model))?;
///     run.report_usage(Usage::new(1_000, 100))?;
///     run.end(&"Hello")?;
/// }
/// let costs = tracker.cost_by_model();
/// assert!(costs["gpt-4o-mini"].dollars.is_some());
/// assert_eq!(costs["claude-sonnet-4"].dollars, None, "unpriced, not free");
/// assert_eq!(costs["claude-sonnet-4"].usage, Usage::new(1_000, 100));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Cost {
    /// The tokens.
    pub usage: Usage,
    /// What they cost; `None` when some of them are of a model the price table lacks.
    pub dollars: Option<f64>,
}
