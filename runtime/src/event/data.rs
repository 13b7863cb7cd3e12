//! What happened to a run: [`EventData`] and the data of each kind of event.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{ModelOutcome, ModelRequest, Usage};
use super::payload::Payload;
use super::tags::{Metadata, Tags};

/// What happened, with the data that belongs to it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, EventData, RunKind};
/// use runtrace_runtime::handlers::HandlerResult;
///
/// #[derive(Default)]
/// struct TokenCounter(AtomicUsize);
///
/// impl CallbackHandler for TokenCounter {
///     fn on_event(&self, event: &Event<'_>) -> HandlerResult {
///         if let EventData::NewToken(_) = event.data {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
///
/// let counter = std::sync::Arc::new(TokenCounter::default());
/// let run = CallbackManager::new().with_handler(counter.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
/// run.on_llm_new_token("Hel")?;
/// run.on_llm_new_token("lo")?;
/// run.end(&"Hello")?;
/// assert_eq!(counter.0.load(Ordering::Relaxed), 2);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum EventData<'a> {
    /// The run started.
    Start(RunStart<'a>),
    /// The run ended with an output.
    End(RunEnd<'a>),
    /// The run failed: an `Err`, a panic, a cancellation or a handler that stopped it.
    Error(RunError),
    /// A model streamed a token.
    NewToken(Cow<'a, str>),
    /// Free text, such as a formatted prompt.
    Text(Cow<'a, str>),
    /// The run retries after a failure.
    Retry(Retry),
    /// An agent decided to call a tool.
    AgentAction(AgentAction),
    /// An agent finished with an answer.
    AgentFinish(AgentFinish),
    /// A user-defined event.
    Custom(CustomEvent),
    /// A model run reported the tokens it billed so far: each report replaces the previous
    /// one (providers report running totals), and the run's end carries the last.
    Usage(Usage),
    /// The run added metadata while it ran (LangSmith's `add_metadata`).
    Metadata(Metadata),
}

/// A start: the run's inputs, tags and metadata.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunStart<'a> {
    /// The inputs, a JSON object `{argument: value}` for a traced function.
    pub inputs: Payload<'a>,
    /// The run's tags: inherited ones first, then its own.
    pub tags: Tags,
    /// The run's metadata.
    pub metadata: Metadata,
    /// For a model run, what it was asked: model, provider, parameters, messages.
    pub model: Option<Arc<ModelRequest>>,
}

impl<'a> RunStart<'a> {
    /// A start with `inputs`, no tags and no metadata.
    ///
    /// ```
    /// use runtrace_runtime::event::{Payload, RunStart};
    ///
    /// let start = RunStart::new(Payload::new(serde_json::json!({"question": "2+2?"})))
    ///     .with_tags(["eval"])
    ///     .with_metadata([("user", "ada")]);
    /// assert_eq!(&start.tags[..], ["eval"]);
    /// ```
    #[must_use]
    pub fn new(inputs: Payload<'a>) -> Self {
        RunStart { inputs, tags: Tags::EMPTY, metadata: Metadata::EMPTY, model: None }
    }

    /// Sets the run's tags.
    #[must_use]
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.tags = Tags::EMPTY.merged(tags);
        self
    }

    /// Sets the run's metadata.
    #[must_use]
    pub fn with_metadata<I, K, V>(mut self, metadata: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        self.metadata = Metadata::EMPTY.merged(metadata);
        self
    }

    /// Sets what a model run was asked.
    #[must_use]
    pub fn with_model(mut self, request: ModelRequest) -> Self {
        self.model = Some(Arc::new(request));
        self
    }
}

/// An end: the run's output.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunEnd<'a> {
    /// The output as JSON.
    pub outputs: Payload<'a>,
    /// For a model run, its response, usage and time to first token, as far as known.
    pub model: Option<Arc<ModelOutcome>>,
}

impl<'a> RunEnd<'a> {
    /// An end with `outputs`.
    ///
    /// ```
    /// use runtrace_runtime::event::{Payload, RunEnd};
    /// let end = RunEnd::new(Payload::new(serde_json::json!(4)));
    /// assert_eq!(end.outputs.get(), 4);
    /// ```
    #[must_use]
    pub fn new(outputs: Payload<'a>) -> Self {
        RunEnd { outputs, model: None }
    }

    /// Sets what a model run ended with.
    #[must_use]
    pub fn with_model(mut self, outcome: ModelOutcome) -> Self {
        self.model = Some(Arc::new(outcome));
        self
    }
}

/// A failure of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunError {
    /// The error rendered as text.
    pub message: String,
    /// The Rust type of the error, where known.
    pub type_name: Option<Cow<'static, str>>,
    /// How the run failed.
    pub cause: ErrorCause,
}

impl RunError {
    /// A failure with a message, of the given cause.
    ///
    /// ```
    /// use runtrace_runtime::event::{ErrorCause, RunError};
    /// let error = RunError::new("timeout", ErrorCause::Returned);
    /// assert_eq!(error.to_string(), "timeout");
    /// ```
    #[must_use]
    pub fn new(message: impl Into<String>, cause: ErrorCause) -> Self {
        RunError { message: message.into(), type_name: None, cause }
    }

    /// Records the Rust type of the error.
    #[must_use]
    pub fn with_type_name(mut self, type_name: impl Into<Cow<'static, str>>) -> Self {
        self.type_name = Some(type_name.into());
        self
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCause {
    /// The function returned `Err`.
    Returned,
    /// The function panicked; the panic went on after the event.
    Panicked,
    /// The run's future was dropped before it finished.
    Cancelled,
    /// A handler that raises stopped the run: it refused the start, or it failed while the
    /// run went on (at a token, say: a budget) and the run then ended with an error, as it
    /// does when its code returns the [`CallbackError`](crate::CallbackError) with `?`.
    Stopped,
}

/// A retry of a run after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retry {
    /// The attempt about to start, counting from 1 for the first retry.
    pub attempt: u32,
    /// Why the previous attempt failed.
    pub reason: String,
}

impl Retry {
    /// The retry `attempt` (from 1), after a failure for `reason`.
    ///
    /// ```
    /// let retry = runtrace_runtime::event::Retry::new(1, "rate limited");
    /// assert_eq!(retry.attempt, 1);
    /// ```
    #[must_use]
    pub fn new(attempt: u32, reason: impl Into<String>) -> Self {
        Retry { attempt, reason: reason.into() }
    }
}

/// An agent's decision to call a tool.
///
/// ```
/// use runtrace_runtime::event::AgentAction;
/// let action = AgentAction::new("calculator", serde_json::json!("2+2")).with_log("I should add.");
/// assert_eq!(action.tool, "calculator");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentAction {
    /// The tool to call.
    pub tool: String,
    /// Its input.
    pub tool_input: Value,
    /// The agent's reasoning, as logged.
    pub log: String,
}

impl AgentAction {
    /// An action calling `tool` with `tool_input`.
    #[must_use]
    pub fn new(tool: impl Into<String>, tool_input: Value) -> Self {
        AgentAction { tool: tool.into(), tool_input, log: String::new() }
    }

    /// Adds the agent's reasoning.
    #[must_use]
    pub fn with_log(mut self, log: impl Into<String>) -> Self {
        self.log = log.into();
        self
    }
}

/// An agent's final answer.
///
/// ```
/// use runtrace_runtime::event::AgentFinish;
/// let finish = AgentFinish::new(serde_json::json!({"answer": 4}));
/// assert_eq!(finish.output["answer"], 4);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentFinish {
    /// The answer.
    pub output: Value,
    /// The agent's reasoning, as logged.
    pub log: String,
}

impl AgentFinish {
    /// A finish with `output`.
    #[must_use]
    pub fn new(output: Value) -> Self {
        AgentFinish { output, log: String::new() }
    }

    /// Adds the agent's reasoning.
    #[must_use]
    pub fn with_log(mut self, log: impl Into<String>) -> Self {
        self.log = log.into();
        self
    }
}

/// A user-defined event, sent with [`RunManager::on_custom_event`](crate::RunManager::on_custom_event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomEvent {
    /// Its name.
    pub name: String,
    /// Its data.
    pub data: Value,
}

impl CustomEvent {
    /// A custom event `name` carrying `data`.
    ///
    /// ```
    /// let event = runtrace_runtime::event::CustomEvent::new("progress", serde_json::json!({"done": 3}));
    /// assert_eq!(event.data["done"], 3);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        CustomEvent { name: name.into(), data }
    }
}
