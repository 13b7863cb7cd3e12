//! What model runs (`llm`, `chat_model`, `embedding`) carry beside their inputs and outputs:
//! the request (model, provider, parameters, messages), the response (model, id, finish
//! reasons, messages), the token [`Usage`] and the time to the first token.
//!
//! The field names follow LangChain's `usage_metadata` and the OpenTelemetry GenAI
//! conventions, so exporters map them without guessing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Tokens a model call billed.
///
/// Counts are what the provider reports. `total_tokens` is `input_tokens + output_tokens`
/// when made with [`Usage::new`]; a provider's own total is kept as reported with
/// [`with_total`](Usage::with_total), even when it disagrees (see
/// [`is_consistent`](Usage::is_consistent)): runtrace never rewrites a provider's figures.
///
/// ```
/// use runtrace_runtime::event::Usage;
///
/// let usage = Usage::new(120, 30).with_cache_read(100);
/// assert_eq!(usage.total_tokens, 150);
/// assert!(usage.is_consistent());
/// assert_eq!(usage + Usage::new(1, 1), Usage::new(121, 31).with_cache_read(100));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens of the prompt (cached ones included).
    pub input_tokens: u64,
    /// Tokens of the completion (reasoning ones included).
    pub output_tokens: u64,
    /// All tokens billed.
    pub total_tokens: u64,
    /// Input tokens read from the provider's prompt cache, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to the provider's prompt cache, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// Output tokens spent on reasoning, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// `input` prompt tokens and `output` completion tokens; the total is their sum.
    #[must_use]
    pub const fn new(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.saturating_add(output),
            cache_read_tokens: None,
            cache_creation_tokens: None,
            reasoning_tokens: None,
        }
    }

    /// The provider's own total, kept as reported.
    ///
    /// A total that disagrees with its parts is kept, and [`is_consistent`](Usage::is_consistent)
    /// tells:
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    ///
    /// let usage = Usage::new(10, 5).with_total(16);
    /// assert_eq!(usage.total_tokens, 16);
    /// assert!(!usage.is_consistent());
    /// ```
    #[must_use]
    pub const fn with_total(mut self, total: u64) -> Usage {
        self.total_tokens = total;
        self
    }

    /// Input tokens read from the prompt cache.
    #[must_use]
    pub const fn with_cache_read(mut self, tokens: u64) -> Usage {
        self.cache_read_tokens = Some(tokens);
        self
    }

    /// Input tokens written to the prompt cache.
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    ///
    /// let first_call = Usage::new(1_200, 40).with_cache_creation(1_000);
    /// let second_call = Usage::new(1_210, 35).with_cache_read(1_000);
    /// let both = first_call + second_call;
    /// assert_eq!((both.cache_creation_tokens, both.cache_read_tokens), (Some(1_000), Some(1_000)));
    /// assert!(both.is_consistent());
    /// ```
    #[must_use]
    pub const fn with_cache_creation(mut self, tokens: u64) -> Usage {
        self.cache_creation_tokens = Some(tokens);
        self
    }

    /// Output tokens spent on reasoning.
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    ///
    /// let mut total = Usage::new(50, 300).with_reasoning(256);
    /// total += Usage::new(20, 10); // a call that reports no reasoning
    /// assert_eq!(total.reasoning_tokens, Some(256));
    /// assert_eq!(total.output_tokens, 310);
    /// ```
    #[must_use]
    pub const fn with_reasoning(mut self, tokens: u64) -> Usage {
        self.reasoning_tokens = Some(tokens);
        self
    }

    /// Whether the total is the sum of input and output tokens, and no part exceeds its
    /// whole (cached tokens within the input, reasoning tokens within the output).
    ///
    /// ```
    /// use runtrace_runtime::event::Usage;
    ///
    /// assert!(Usage::new(100, 5).with_cache_read(80).is_consistent());
    /// // 80 read and 40 written cannot both be within 100 input tokens.
    /// assert!(!Usage::new(100, 5).with_cache_read(80).with_cache_creation(40).is_consistent());
    /// ```
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        let cached = self.cache_read_tokens.unwrap_or(0).saturating_add(self.cache_creation_tokens.unwrap_or(0));
        self.total_tokens == self.input_tokens.saturating_add(self.output_tokens)
            && cached <= self.input_tokens
            && self.reasoning_tokens.unwrap_or(0) <= self.output_tokens
    }
}

/// Sums two usages field by field, as totals over several calls do; a detail known on
/// either side is known in the sum.
impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        }
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            total_tokens: self.total_tokens.saturating_add(other.total_tokens),
            cache_read_tokens: sum(self.cache_read_tokens, other.cache_read_tokens),
            cache_creation_tokens: sum(self.cache_creation_tokens, other.cache_creation_tokens),
            reasoning_tokens: sum(self.reasoning_tokens, other.reasoning_tokens),
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

/// One message of a chat: who said it, what, and the tools it called.
///
/// ```
/// use runtrace_runtime::event::{Message, ToolCall};
///
/// let question = Message::new("user", "What is 2 + 2?");
/// let add = ToolCall::new("calculator", serde_json::json!({"expr": "2+2"}));
/// let call = Message::new("assistant", "").with_tool_call(add);
/// assert_eq!(call.tool_calls[0].name, "calculator");
/// # let _ = question;
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, or a provider's own role.
    pub role: String,
    /// The text.
    pub content: String,
    /// The tools the message calls (assistant messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    /// A message of `role` saying `content`.
    #[must_use]
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: role.into(), content: content.into(), tool_calls: Vec::new() }
    }

    /// Adds a tool call.
    #[must_use]
    pub fn with_tool_call(mut self, call: ToolCall) -> Message {
        self.tool_calls.push(call);
        self
    }
}

/// A tool call a model asked for.
///
/// ```
/// use runtrace_runtime::event::ToolCall;
///
/// let call = ToolCall::new("calculator", serde_json::json!({"expr": "2+2"})).with_id("call_abc123");
/// assert_eq!(serde_json::to_value(&call)?["id"], "call_abc123");
/// // Without an id, none is written.
/// let call = ToolCall::new("calculator", serde_json::json!({"expr": "2+2"}));
/// assert_eq!(serde_json::to_value(&call)?, serde_json::json!({"name": "calculator", "arguments": {"expr": "2+2"}}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The provider's id of the call, where it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: Value,
}

impl ToolCall {
    /// A call of `name` with `arguments`.
    #[must_use]
    pub fn new(name: impl Into<String>, arguments: Value) -> ToolCall {
        ToolCall { id: None, name: name.into(), arguments }
    }

    /// The provider's id of the call.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> ToolCall {
        self.id = Some(id.into());
        self
    }
}

/// What a model run was asked: known when the call starts.
///
/// ```
/// use runtrace_runtime::event::{Message, ModelRequest};
///
/// let request = ModelRequest::new("gpt-4o-mini")
///     .with_provider("openai")
///     .with_param("temperature", 0.2)
///     .with_message(Message::new("user", "Say hello"));
/// assert_eq!(request.params["temperature"], 0.2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelRequest {
    /// The model asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Who serves it: `openai`, `anthropic`, ... (GenAI's `gen_ai.provider.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Invocation parameters: `temperature`, `max_tokens`, `stop`, `stream`, and any other.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
    /// For chat models, the input messages (LangChain's `on_chat_model_start`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

impl ModelRequest {
    /// A request to `model`.
    #[must_use]
    pub fn new(model: impl Into<String>) -> ModelRequest {
        ModelRequest { model: Some(model.into()), ..ModelRequest::default() }
    }

    /// Who serves the model.
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<String>) -> ModelRequest {
        self.provider = Some(provider.into());
        self
    }

    /// An invocation parameter.
    #[must_use]
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<Value>) -> ModelRequest {
        self.params.insert(name.into(), value.into());
        self
    }

    /// An input message.
    #[must_use]
    pub fn with_message(mut self, message: Message) -> ModelRequest {
        self.messages.push(message);
        self
    }
}

/// What a model run answered: known when it ends.
///
/// ```
/// use runtrace_runtime::event::{Message, ModelResponse};
///
/// let response = ModelResponse::new()
///     .with_model("gpt-4o-mini-2024-07-18")
///     .with_id("chatcmpl-42")
///     .with_finish_reason("stop")
///     .with_message(Message::new("assistant", "Hello!"));
/// assert_eq!(response.finish_reasons, ["stop"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelResponse {
    /// The model that answered, as the provider names it (often a dated version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The provider's id of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why each choice stopped: `stop`, `length`, `tool_calls`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finish_reasons: Vec<String>,
    /// The output messages (or generations, as `assistant` messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

impl ModelResponse {
    /// An empty response, to fill with the `with_*` methods.
    #[must_use]
    pub fn new() -> ModelResponse {
        ModelResponse::default()
    }

    /// The model that answered.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> ModelResponse {
        self.model = Some(model.into());
        self
    }

    /// The provider's id of the response.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> ModelResponse {
        self.id = Some(id.into());
        self
    }

    /// A finish reason.
    #[must_use]
    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> ModelResponse {
        self.finish_reasons.push(reason.into());
        self
    }

    /// An output message.
    #[must_use]
    pub fn with_message(mut self, message: Message) -> ModelResponse {
        self.messages.push(message);
        self
    }
}

/// What a model run ended with, beside its output: the response, the usage (the last one
/// reported), and the time from its start to its first streamed token.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, EventData, RunKind};
/// use runtrace_runtime::event::{ModelResponse, Usage};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// let run = callbacks.start_run(RunKind::ChatModel, "chat", &"Say hello")?;
/// run.on_llm_new_token("Hello")?;
/// run.report_usage(Usage::new(9, 2))?;
/// run.report_response(ModelResponse::new().with_model("gpt-4o-mini-2024-07-18").with_finish_reason("stop"));
/// run.end(&"Hello!")?;
///
/// let events = recorder.events();
/// let EventData::End(end) = &events.last().expect("the end").data else { unreachable!() };
/// let outcome = end.model.as_deref().expect("a chat model run");
/// assert_eq!(outcome.usage, Some(Usage::new(9, 2)));
/// let response = outcome.response.as_ref().expect("reported");
/// assert_eq!(response.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
/// assert!(outcome.time_to_first_token.is_some(), "it streamed");
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ModelOutcome {
    /// The response, if the run reported one (or returned a [`ModelOutput`] that has one).
    pub response: Option<ModelResponse>,
    /// The tokens billed, if reported.
    pub usage: Option<Usage>,
    /// From the run's start to its first `on_llm_new_token`, if it streamed.
    pub time_to_first_token: Option<Duration>,
}

impl ModelOutcome {
    /// An outcome with nothing reported, to fill with the `with_*` methods: what a handler's
    /// own tests end a model run with.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtrace_runtime::event::{ModelOutcome, ModelResponse, Payload, RunEnd, Usage};
    ///
    /// let outcome = ModelOutcome::new()
    ///     .with_usage(Usage::new(9, 2))
    ///     .with_response(ModelResponse::new().with_model("gpt-4o-mini"))
    ///     .with_time_to_first_token(Duration::from_millis(180));
    /// let end = RunEnd::new(Payload::new(serde_json::json!("Hello!"))).with_model(outcome);
    /// let model = end.model.as_deref().expect("a model run's end");
    /// assert_eq!(model.usage.map(|usage| usage.total_tokens), Some(11));
    /// assert_eq!(model.response.as_ref().and_then(|response| response.model.as_deref()), Some("gpt-4o-mini"));
    /// assert_eq!(model.time_to_first_token, Some(Duration::from_millis(180)));
    /// ```
    #[must_use]
    pub fn new() -> ModelOutcome {
        ModelOutcome::default()
    }

    /// The tokens billed.
    ///
    /// ```
    /// use runtrace_runtime::event::{ModelOutcome, Usage};
    ///
    /// assert_eq!(ModelOutcome::new().with_usage(Usage::new(9, 2)).usage, Some(Usage::new(9, 2)));
    /// ```
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> ModelOutcome {
        self.usage = Some(usage);
        self
    }

    /// The response.
    ///
    /// ```
    /// use runtrace_runtime::event::{ModelOutcome, ModelResponse};
    ///
    /// let outcome = ModelOutcome::new().with_response(ModelResponse::new().with_finish_reason("stop"));
    /// assert_eq!(outcome.response.map(|response| response.finish_reasons), Some(vec!["stop".to_owned()]));
    /// ```
    #[must_use]
    pub fn with_response(mut self, response: ModelResponse) -> ModelOutcome {
        self.response = Some(response);
        self
    }

    /// The time from the run's start to its first streamed token.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtrace_runtime::event::ModelOutcome;
    ///
    /// let outcome = ModelOutcome::new().with_time_to_first_token(Duration::from_millis(180));
    /// assert_eq!(outcome.time_to_first_token, Some(Duration::from_millis(180)));
    /// ```
    #[must_use]
    pub fn with_time_to_first_token(mut self, time: Duration) -> ModelOutcome {
        self.time_to_first_token = Some(time);
        self
    }
}

/// A model client's response type that knows its usage and content: return it from a traced
/// model function and the run records them, with no line of code at the call.
///
/// Implement it once for your client's response type; both methods default to `None`.
/// Detection happens where the traced function is compiled, so a function generic over its
/// return type records them only when the type is known there.
///
/// ```
/// use runtrace_runtime::event::{Message, ModelOutput, ModelResponse, Usage};
///
/// struct ChatCompletion { text: String, prompt_tokens: u64, completion_tokens: u64 }
///
/// impl ModelOutput for ChatCompletion {
///     fn usage(&self) -> Option<Usage> {
///         Some(Usage::new(self.prompt_tokens, self.completion_tokens))
///     }
///     fn response(&self) -> Option<ModelResponse> {
///         Some(ModelResponse::new().with_message(Message::new("assistant", self.text.clone())))
///     }
/// }
/// ```
pub trait ModelOutput {
    /// The tokens the call billed.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// The response's model, id, finish reasons and messages.
    fn response(&self) -> Option<ModelResponse> {
        None
    }
}

impl<T: ModelOutput + ?Sized> ModelOutput for &T {
    fn usage(&self) -> Option<Usage> {
        (**self).usage()
    }

    fn response(&self) -> Option<ModelResponse> {
        (**self).response()
    }
}
