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
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new()
///     .with_handler(recorder.clone())
///     .with_tags(["prod"])
///     .with_metadata([("user", "ada")]);
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///
/// let events = recorder.events();
/// let EventData::Start(start) = &events[0].data else { unreachable!() };
/// assert_eq!(start.inputs.get(), "2+2");
/// assert_eq!(&start.tags[..], ["prod"]);
/// assert_eq!(start.metadata.get("user"), Some(&serde_json::json!("ada")));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
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
    ///
    /// A tag given twice is kept once, where it first appears:
    ///
    /// ```
    /// use runtrace_runtime::event::{Payload, RunStart};
    ///
    /// let start = RunStart::new(Payload::omitted()).with_tags(["eval", "nightly", "eval"]);
    /// assert_eq!(&start.tags[..], ["eval", "nightly"]);
    /// ```
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
    ///
    /// A key given twice keeps its last value:
    ///
    /// ```
    /// use runtrace_runtime::event::{Payload, RunStart};
    ///
    /// let start = RunStart::new(Payload::omitted()).with_metadata([("user", "ada"), ("user", "grace")]);
    /// assert_eq!(start.metadata.len(), 1);
    /// assert_eq!(start.metadata.get("user"), Some(&serde_json::json!("grace")));
    /// ```
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
    ///
    /// ```
    /// use runtrace_runtime::event::{ModelRequest, Payload, RunStart};
    ///
    /// let start = RunStart::new(Payload::new(serde_json::json!({"prompt": "Say hello"})))
    ///     .with_model(ModelRequest::new("gpt-4o-mini").with_provider("openai"));
    /// let request = start.model.as_deref().expect("set by with_model");
    /// assert_eq!(request.model.as_deref(), Some("gpt-4o-mini"));
    /// assert_eq!(request.provider.as_deref(), Some("openai"));
    /// ```
    #[must_use]
    pub fn with_model(mut self, request: ModelRequest) -> Self {
        self.model = Some(Arc::new(request));
        self
    }
}

/// An end: the run's output.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///
/// let events = recorder.events();
/// let EventData::End(end) = &events[1].data else { unreachable!() };
/// assert_eq!(end.outputs.get(), 4);
/// assert!(end.model.is_none(), "a tool is not a model run");
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtrace_runtime::event::{ModelOutcome, Payload, RunEnd, Usage};
    ///
    /// let outcome = ModelOutcome::new()
    ///     .with_usage(Usage::new(9, 2))
    ///     .with_time_to_first_token(Duration::from_millis(180));
    /// let end = RunEnd::new(Payload::new(serde_json::json!("Hello!"))).with_model(outcome);
    /// assert_eq!(end.model.as_ref().and_then(|model| model.usage).map(|usage| usage.total_tokens), Some(11));
    /// ```
    #[must_use]
    pub fn with_model(mut self, outcome: ModelOutcome) -> Self {
        self.model = Some(Arc::new(outcome));
        self
    }
}

/// A failure of a run.
///
/// It serializes as exporters write it, the cause in snake_case:
///
/// ```
/// use runtrace_runtime::event::{ErrorCause, RunError};
///
/// let error = RunError::new("rate limited", ErrorCause::Returned).with_type_name("HttpError");
/// assert_eq!(
///     serde_json::to_value(&error)?,
///     serde_json::json!({"message": "rate limited", "type_name": "HttpError", "cause": "returned"}),
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
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
    ///
    /// ```
    /// use runtrace_runtime::event::{ErrorCause, RunError};
    ///
    /// #[derive(Debug)]
    /// struct RateLimited;
    ///
    /// let error = RunError::new("rate limited", ErrorCause::Returned)
    ///     .with_type_name(std::any::type_name::<RateLimited>());
    /// assert!(error.type_name.as_deref().is_some_and(|name| name.ends_with("RateLimited")));
    /// ```
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
///
/// A run whose guard is dropped before it ends, as when its future is cancelled, fails as
/// [`Cancelled`](ErrorCause::Cancelled):
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::event::ErrorCause;
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// drop(callbacks.start_run(RunKind::Retriever, "search", &"rust")?);
///
/// let events = recorder.events();
/// let EventData::Error(error) = &events[1].data else { unreachable!() };
/// assert_eq!(error.cause, ErrorCause::Cancelled);
/// assert_eq!(serde_json::to_value(error.cause).ok(), Some(serde_json::json!("cancelled")));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
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
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
/// run.on_retry(1, "429 Too Many Requests")?;
/// run.end(&"Hello")?;
///
/// let events = recorder.events();
/// let EventData::Retry(retry) = &events[1].data else { unreachable!() };
/// assert_eq!((retry.attempt, retry.reason.as_str()), (1, "429 Too Many Requests"));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
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
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::AgentFinish;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// let agent = callbacks.start_run(RunKind::Agent, "math_agent", &"2+2?")?;
    /// agent.on_agent_finish(AgentFinish::new(serde_json::json!({"answer": 4})).with_log("The calculator said 4."))?;
    /// agent.end(&4)?;
    ///
    /// let events = recorder.events();
    /// let EventData::AgentFinish(finish) = &events[1].data else { unreachable!() };
    /// assert_eq!(finish.log, "The calculator said 4.");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_log(mut self, log: impl Into<String>) -> Self {
        self.log = log.into();
        self
    }
}

/// A user-defined event, sent with [`RunManager::on_custom_event`](crate::RunManager::on_custom_event).
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// let run = callbacks.start_run(RunKind::Chain, "index_docs", &["a.md", "b.md"])?;
/// run.on_custom_event("progress", &serde_json::json!({"done": 1, "of": 2}))?;
/// run.end(&2)?;
///
/// let events = recorder.events();
/// let EventData::Custom(custom) = &events[1].data else { unreachable!() };
/// assert_eq!((custom.name.as_str(), &custom.data["done"]), ("progress", &serde_json::json!(1)));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
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
