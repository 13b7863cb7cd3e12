//! The attribute names this crate writes, one constant each, grouped by the convention that
//! defines them. They are ours rather than `opentelemetry-semantic-conventions`' because the
//! GenAI constants there are deprecated and move between releases, and the other three
//! conventions are not in it at all.
//!
//! ```
//! use runtrace_otel::attributes::{genai, openinference};
//!
//! assert_eq!(genai::USAGE_INPUT_TOKENS, "gen_ai.usage.input_tokens");
//! assert_eq!(openinference::SPAN_KIND, "openinference.span.kind");
//! ```

/// OpenTelemetry's GenAI semantic conventions (`gen_ai.*`), read by most OTel backends.
pub mod genai {
    /// What the span does: `chat`, `text_completion`, `embeddings`, `execute_tool`, `invoke_agent`.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// Who serves the model: `openai`, `anthropic`, ...
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// The model asked for.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// Sampling temperature.
    pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// Most tokens to generate.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// Nucleus sampling.
    pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// Top-k sampling.
    pub const REQUEST_TOP_K: &str = "gen_ai.request.top_k";
    /// Stop sequences.
    pub const REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
    /// Frequency penalty.
    pub const REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";
    /// Presence penalty.
    pub const REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";
    /// Sampling seed.
    pub const REQUEST_SEED: &str = "gen_ai.request.seed";
    /// The model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// The provider's id of the response.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// Why each choice stopped.
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// Prompt tokens billed.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Completion tokens billed.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// Input tokens read from the provider's cache.
    pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// Input tokens written to the provider's cache.
    pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// The tool a tool span runs.
    pub const TOOL_NAME: &str = "gen_ai.tool.name";
    /// A tool call's arguments (message content: opt-in).
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// A tool call's result (message content: opt-in).
    pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
    /// The agent an agent span runs.
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    /// The input messages as JSON (message content: opt-in).
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// The output messages as JSON (message content: opt-in).
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// The class of error a failed span ended with.
    pub const ERROR_TYPE: &str = "error.type";
}

/// Arize's OpenInference conventions, read by Phoenix and Arize.
pub mod openinference {
    /// `LLM`, `CHAIN`, `TOOL`, `RETRIEVER`, `EMBEDDING`, `AGENT`, `UNKNOWN`.
    pub const SPAN_KIND: &str = "openinference.span.kind";
    /// The run's inputs (content: opt-in).
    pub const INPUT_VALUE: &str = "input.value";
    /// `application/json` or `text/plain`.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// The run's output (content: opt-in).
    pub const OUTPUT_VALUE: &str = "output.value";
    /// `application/json` or `text/plain`.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// The model that answered, or the one asked for.
    pub const LLM_MODEL_NAME: &str = "llm.model_name";
    /// Who serves the model.
    pub const LLM_PROVIDER: &str = "llm.provider";
    /// The request's parameters as JSON.
    pub const LLM_INVOCATION_PARAMETERS: &str = "llm.invocation_parameters";
    /// Prompt tokens.
    pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
    /// Completion tokens.
    pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
    /// All tokens.
    pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
    /// Prompt tokens read from the cache.
    pub const LLM_TOKEN_COUNT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
    /// Prompt tokens written to the cache.
    pub const LLM_TOKEN_COUNT_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
    /// Completion tokens spent on reasoning.
    pub const LLM_TOKEN_COUNT_REASONING: &str = "llm.token_count.completion_details.reasoning";
    /// Prefix of the flattened input messages: `llm.input_messages.{i}.message.role`.
    pub const LLM_INPUT_MESSAGES: &str = "llm.input_messages";
    /// Prefix of the flattened output messages.
    pub const LLM_OUTPUT_MESSAGES: &str = "llm.output_messages";
    /// The tool a tool span runs.
    pub const TOOL_NAME: &str = "tool.name";
    /// The run's tags, a list of strings.
    pub const TAG_TAGS: &str = "tag.tags";
    /// The run's metadata as a JSON object.
    pub const METADATA: &str = "metadata";
    /// The Phoenix project spans go to (a resource attribute).
    pub const PROJECT_NAME: &str = "openinference.project.name";
}

/// LangSmith's OpenTelemetry attributes (`langsmith.*`), read by its OTLP endpoint.
pub mod langsmith {
    /// `llm`, `chain`, `tool`, `retriever`, `embedding`, `prompt`, `parser`.
    pub const SPAN_KIND: &str = "langsmith.span.kind";
    /// The root run's id, as a UUID.
    pub const TRACE_ID: &str = "langsmith.trace.id";
    /// The run's id, as a UUID.
    pub const SPAN_ID: &str = "langsmith.span.id";
    /// The parent run's id, as a UUID.
    pub const SPAN_PARENT_ID: &str = "langsmith.span.parent_id";
    /// The run's dotted order.
    pub const SPAN_DOTTED_ORDER: &str = "langsmith.span.dotted_order";
    /// The run's tags, comma-separated.
    pub const SPAN_TAGS: &str = "langsmith.span.tags";
    /// Prefix of one attribute per metadata entry: `langsmith.metadata.{key}`.
    pub const METADATA_PREFIX: &str = "langsmith.metadata.";
    /// The inputs, as LangSmith reads them (content: opt-in).
    pub const PROMPT: &str = "gen_ai.prompt";
    /// The outputs, as LangSmith reads them (content: opt-in).
    pub const COMPLETION: &str = "gen_ai.completion";
}

/// Langfuse's OpenTelemetry attributes (`langfuse.*`), read by its OTLP endpoint.
pub mod langfuse {
    /// `generation`, `embedding`, `tool`, `agent`, `chain`, `retriever`, `span`.
    pub const OBSERVATION_TYPE: &str = "langfuse.observation.type";
    /// The inputs (content: opt-in).
    pub const OBSERVATION_INPUT: &str = "langfuse.observation.input";
    /// The output (content: opt-in).
    pub const OBSERVATION_OUTPUT: &str = "langfuse.observation.output";
    /// The model.
    pub const OBSERVATION_MODEL_NAME: &str = "langfuse.observation.model.name";
    /// The request's parameters as JSON.
    pub const OBSERVATION_MODEL_PARAMETERS: &str = "langfuse.observation.model.parameters";
    /// The usage as JSON: `{"input": .., "output": .., "total": ..}`.
    pub const OBSERVATION_USAGE_DETAILS: &str = "langfuse.observation.usage_details";
    /// When the first token arrived (RFC 3339).
    pub const OBSERVATION_COMPLETION_START_TIME: &str = "langfuse.observation.completion_start_time";
    /// `DEFAULT` or `ERROR`.
    pub const OBSERVATION_LEVEL: &str = "langfuse.observation.level";
    /// The error message of a failed run.
    pub const OBSERVATION_STATUS_MESSAGE: &str = "langfuse.observation.status_message";
    /// Prefix of one attribute per metadata entry: `langfuse.observation.metadata.{key}`.
    pub const OBSERVATION_METADATA_PREFIX: &str = "langfuse.observation.metadata.";
    /// The trace's name, on its root span.
    pub const TRACE_NAME: &str = "langfuse.trace.name";
    /// The trace's tags, on its root span.
    pub const TRACE_TAGS: &str = "langfuse.trace.tags";
}

/// What runtrace adds of its own, under `runtrace.*`.
pub mod runtrace {
    /// The run's kind as runtrace names it (`chat_model`, `tool`, ...).
    pub const RUN_KIND: &str = "runtrace.run.kind";
    /// How a failed run failed: `returned`, `panicked`, `cancelled`, `stopped`.
    pub const ERROR_CAUSE: &str = "runtrace.error.cause";
    /// How many tokens the run streamed.
    pub const STREAMED_TOKENS: &str = "runtrace.llm.streamed_tokens";
    /// From the run's start to its first streamed token, in milliseconds.
    pub const TIME_TO_FIRST_TOKEN_MS: &str = "runtrace.llm.time_to_first_token_ms";
}
