//! One run as it becomes a span: what its events told so far ([`OpenRun`]), and the
//! [`SpanData`] it becomes when it ends, with the attributes of each convention.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{Event as SpanEvent, SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use runtrace_runtime::RunKind;
use runtrace_runtime::event::{
    AgentAction, AgentFinish, CustomEvent, ErrorCause, Message, Metadata, ModelOutcome, ModelRequest, Payload, Retry,
    RunError, RunInfo, Tags, Usage,
};
use runtrace_runtime::tracer::rfc3339;
use serde_json::{Map, Value as Json, json};

use crate::attributes::{genai, langfuse, langsmith, openinference, runtrace};
use crate::config::{Config, MAX_SPAN_EVENTS, TokenEvents};
use crate::value::{Limits, count};

/// A run that started and has not ended: what its events told so far.
pub(crate) struct OpenRun {
    pub(crate) info: RunInfo,
    pub(crate) start: SystemTime,
    pub(crate) span: SpanContext,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) dotted_order: Arc<str>,
    pub(crate) inputs: Option<Payload<'static>>,
    pub(crate) tags: Tags,
    pub(crate) metadata: Metadata,
    pub(crate) added_metadata: Map<String, Json>,
    pub(crate) request: Option<Arc<ModelRequest>>,
    pub(crate) events: Vec<SpanEvent>,
    pub(crate) dropped_events: u32,
    pub(crate) tokens: u64,
    pub(crate) first_token: Option<SystemTime>,
    pub(crate) usage: Option<Usage>,
}

/// How a run ended.
pub(crate) enum Ending<'a> {
    Output { outputs: &'a Payload<'static>, model: Option<&'a ModelOutcome> },
    Failure(&'a RunError),
}

impl OpenRun {
    fn push_event(&mut self, event: SpanEvent) {
        if self.events.len() < MAX_SPAN_EVENTS {
            self.events.push(event);
        } else {
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
    }

    pub(crate) fn token(&mut self, config: &Config, limits: Limits, time: SystemTime, token: &str) {
        self.tokens += 1;
        self.first_token.get_or_insert(time);
        if config.token_events == TokenEvents::Each {
            let attributes = if config.content { vec![limits.string("token", token)] } else { Vec::new() };
            self.push_event(SpanEvent::new("new_token", time, attributes, 0));
        }
    }

    pub(crate) fn text(&mut self, config: &Config, limits: Limits, time: SystemTime, text: &str) {
        let attributes = if config.content { vec![limits.string("text", text)] } else { Vec::new() };
        self.push_event(SpanEvent::new("text", time, attributes, 0));
    }

    pub(crate) fn retry(&mut self, limits: Limits, time: SystemTime, retry: &Retry) {
        let attributes =
            vec![KeyValue::new("attempt", i64::from(retry.attempt)), limits.string("reason", retry.reason.clone())];
        self.push_event(SpanEvent::new("retry", time, attributes, 0));
    }

    pub(crate) fn agent_action(&mut self, config: &Config, limits: Limits, time: SystemTime, action: &AgentAction) {
        let mut attributes = vec![limits.string("tool", action.tool.clone())];
        if config.content {
            attributes.push(limits.string("tool_input", limits.json_text(&action.tool_input)));
            attributes.push(limits.string("log", action.log.clone()));
        }
        self.push_event(SpanEvent::new("agent_action", time, attributes, 0));
    }

    pub(crate) fn agent_finish(&mut self, config: &Config, limits: Limits, time: SystemTime, finish: &AgentFinish) {
        let mut attributes = Vec::new();
        if config.content {
            attributes.push(limits.string("output", limits.json_text(&finish.output)));
            attributes.push(limits.string("log", finish.log.clone()));
        }
        self.push_event(SpanEvent::new("agent_finish", time, attributes, 0));
    }

    pub(crate) fn custom(&mut self, limits: Limits, time: SystemTime, custom: &CustomEvent) {
        let attributes = vec![limits.string("data", limits.json_text(&custom.data))];
        self.push_event(SpanEvent::new(limits.text(custom.name.clone()), time, attributes, 0));
    }

    pub(crate) fn add_metadata(&mut self, metadata: &Metadata) {
        self.added_metadata.extend(metadata.iter().map(|(key, value)| (key.clone(), value.clone())));
    }

    /// The span this run becomes, ended at `end` as `ending` says.
    pub(crate) fn finish(
        mut self,
        end: SystemTime,
        ending: &Ending<'_>,
        config: &Config,
        limits: Limits,
        scope: &InstrumentationScope,
    ) -> SpanData {
        let model = match ending {
            Ending::Output { model, .. } => *model,
            Ending::Failure(_) => None,
        };
        let status = match ending {
            Ending::Output { .. } => Status::Ok,
            Ending::Failure(error) => {
                self.push_exception(limits, end, error);
                Status::error(limits.text(error.message.clone()))
            }
        };
        let facts = ModelFacts::of(&self, model);
        let mut attributes = Vec::with_capacity(32);
        attributes.push(KeyValue::new(runtrace::RUN_KIND, self.info.kind.as_str()));
        if self.tokens > 0 {
            attributes.push(count(runtrace::STREAMED_TOKENS, self.tokens));
        }
        if let Some(ttft) = facts.time_to_first_token {
            attributes.push(KeyValue::new(runtrace::TIME_TO_FIRST_TOKEN_MS, ttft.as_secs_f64() * 1000.0));
        }
        if let Ending::Failure(error) = ending {
            attributes.push(KeyValue::new(runtrace::ERROR_CAUSE, cause_name(error.cause)));
        }
        let metadata = self.all_metadata();
        let content = Content::of(&self, ending, config);
        if config.genai {
            self.genai(&mut attributes, &facts, &content, ending, limits);
        }
        if config.openinference {
            self.openinference(&mut attributes, &facts, &content, &metadata, limits);
        }
        if config.langsmith {
            self.langsmith(&mut attributes, &content, &metadata, limits);
        }
        if config.langfuse {
            self.langfuse(&mut attributes, &facts, &content, &metadata, ending, limits);
        }
        let name = span_name(&self.info, facts.model_name(), config.genai);
        let mut events = SpanEvents::default();
        events.events = std::mem::take(&mut self.events);
        events.dropped_count = self.dropped_events;
        SpanData {
            span_context: self.span.clone(),
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_is_remote,
            span_kind: if is_model(self.info.kind) { SpanKind::Client } else { SpanKind::Internal },
            name,
            start_time: self.start,
            end_time: end.max(self.start),
            attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        }
    }

    fn push_exception(&mut self, limits: Limits, time: SystemTime, error: &RunError) {
        let kind = error.type_name.as_deref().unwrap_or_else(|| cause_name(error.cause)).to_owned();
        let attributes = vec![
            limits.string("exception.type", kind),
            limits.string("exception.message", error.message.clone()),
            KeyValue::new(runtrace::ERROR_CAUSE, cause_name(error.cause)),
        ];
        // The exception is the span's last word: never the one dropped for room.
        if self.events.len() >= MAX_SPAN_EVENTS {
            self.events.pop();
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
        self.events.push(SpanEvent::new("exception", time, attributes, 0));
    }

    fn all_metadata(&self) -> Map<String, Json> {
        let mut all = self.metadata.to_map();
        all.extend(self.added_metadata.iter().map(|(key, value)| (key.clone(), value.clone())));
        all
    }

    fn genai(
        &self,
        out: &mut Vec<KeyValue>,
        facts: &ModelFacts<'_>,
        content: &Content<'_>,
        ending: &Ending<'_>,
        limits: Limits,
    ) {
        if let Some(operation) = operation_name(self.info.kind) {
            out.push(KeyValue::new(genai::OPERATION_NAME, operation));
        }
        match self.info.kind {
            RunKind::Tool => {
                out.push(limits.string(genai::TOOL_NAME, self.info.name.to_string()));
                if let Some(inputs) = content.inputs {
                    out.push(limits.string(genai::TOOL_CALL_ARGUMENTS, limits.json_text(inputs)));
                }
                if let Some(output) = content.output {
                    out.push(limits.string(genai::TOOL_CALL_RESULT, limits.json_text(output)));
                }
            }
            RunKind::Agent => out.push(limits.string(genai::AGENT_NAME, self.info.name.to_string())),
            _ => {}
        }
        if let Some(request) = facts.request {
            if let Some(provider) = &request.provider {
                out.push(limits.string(genai::PROVIDER_NAME, provider.clone()));
            }
            if let Some(model) = &request.model {
                out.push(limits.string(genai::REQUEST_MODEL, model.clone()));
            }
            for (param, value) in &request.params {
                if let Some(key) = genai_param(param) {
                    out.push(limits.json(key, value));
                }
            }
            if content.messages && !request.messages.is_empty() {
                out.push(limits.string(genai::INPUT_MESSAGES, genai_messages(&request.messages).to_string()));
            }
        }
        if let Some(response) = facts.outcome.and_then(|outcome| outcome.response.as_ref()) {
            if let Some(model) = &response.model {
                out.push(limits.string(genai::RESPONSE_MODEL, model.clone()));
            }
            if let Some(id) = &response.id {
                out.push(limits.string(genai::RESPONSE_ID, id.clone()));
            }
            if !response.finish_reasons.is_empty() {
                out.push(KeyValue::new(genai::RESPONSE_FINISH_REASONS, strings(limits, &response.finish_reasons)));
            }
            if content.messages && !response.messages.is_empty() {
                out.push(limits.string(genai::OUTPUT_MESSAGES, genai_messages(&response.messages).to_string()));
            }
        }
        if let Some(usage) = facts.usage {
            out.push(count(genai::USAGE_INPUT_TOKENS, usage.input_tokens));
            out.push(count(genai::USAGE_OUTPUT_TOKENS, usage.output_tokens));
            if let Some(n) = usage.cache_read_tokens {
                out.push(count(genai::USAGE_CACHE_READ_INPUT_TOKENS, n));
            }
            if let Some(n) = usage.cache_creation_tokens {
                out.push(count(genai::USAGE_CACHE_CREATION_INPUT_TOKENS, n));
            }
        }
        if let Ending::Failure(error) = ending {
            let kind = error.type_name.as_deref().unwrap_or_else(|| cause_name(error.cause));
            out.push(limits.string(genai::ERROR_TYPE, kind.to_owned()));
        }
    }

    fn openinference(
        &self,
        out: &mut Vec<KeyValue>,
        facts: &ModelFacts<'_>,
        content: &Content<'_>,
        metadata: &Map<String, Json>,
        limits: Limits,
    ) {
        out.push(KeyValue::new(openinference::SPAN_KIND, openinference_kind(self.info.kind)));
        if let Some(inputs) = content.inputs {
            out.push(limits.string(openinference::INPUT_VALUE, limits.json_text(inputs)));
            out.push(KeyValue::new(openinference::INPUT_MIME_TYPE, mime_type(inputs)));
        }
        if let Some(output) = content.output {
            out.push(limits.string(openinference::OUTPUT_VALUE, limits.json_text(output)));
            out.push(KeyValue::new(openinference::OUTPUT_MIME_TYPE, mime_type(output)));
        }
        if self.info.kind == RunKind::Tool {
            out.push(limits.string(openinference::TOOL_NAME, self.info.name.to_string()));
        }
        if let Some(model) = facts.model_name() {
            out.push(limits.string(openinference::LLM_MODEL_NAME, model.to_owned()));
        }
        if let Some(request) = facts.request {
            if let Some(provider) = &request.provider {
                out.push(limits.string(openinference::LLM_PROVIDER, provider.clone()));
            }
            if !request.params.is_empty() {
                let params = Json::Object(request.params.clone()).to_string();
                out.push(limits.string(openinference::LLM_INVOCATION_PARAMETERS, params));
            }
            if content.messages {
                flat_messages(out, limits, openinference::LLM_INPUT_MESSAGES, &request.messages);
            }
        }
        if content.messages {
            if let Some(response) = facts.outcome.and_then(|outcome| outcome.response.as_ref()) {
                flat_messages(out, limits, openinference::LLM_OUTPUT_MESSAGES, &response.messages);
            }
        }
        if let Some(usage) = facts.usage {
            out.push(count(openinference::LLM_TOKEN_COUNT_PROMPT, usage.input_tokens));
            out.push(count(openinference::LLM_TOKEN_COUNT_COMPLETION, usage.output_tokens));
            out.push(count(openinference::LLM_TOKEN_COUNT_TOTAL, usage.total_tokens));
            if let Some(n) = usage.cache_read_tokens {
                out.push(count(openinference::LLM_TOKEN_COUNT_CACHE_READ, n));
            }
            if let Some(n) = usage.cache_creation_tokens {
                out.push(count(openinference::LLM_TOKEN_COUNT_CACHE_WRITE, n));
            }
            if let Some(n) = usage.reasoning_tokens {
                out.push(count(openinference::LLM_TOKEN_COUNT_REASONING, n));
            }
        }
        if !self.tags.is_empty() {
            out.push(KeyValue::new(openinference::TAG_TAGS, strings(limits, &self.tags)));
        }
        if !metadata.is_empty() {
            out.push(limits.string(openinference::METADATA, Json::Object(metadata.clone()).to_string()));
        }
    }

    fn langsmith(&self, out: &mut Vec<KeyValue>, content: &Content<'_>, metadata: &Map<String, Json>, limits: Limits) {
        out.push(KeyValue::new(langsmith::SPAN_KIND, langsmith_kind(self.info.kind)));
        out.push(KeyValue::new(langsmith::TRACE_ID, self.info.trace_id.to_string()));
        out.push(KeyValue::new(langsmith::SPAN_ID, self.info.run_id.to_string()));
        if let Some(parent) = self.info.parent_run_id {
            out.push(KeyValue::new(langsmith::SPAN_PARENT_ID, parent.to_string()));
        }
        out.push(KeyValue::new(langsmith::SPAN_DOTTED_ORDER, self.dotted_order.to_string()));
        if !self.tags.is_empty() {
            out.push(limits.string(langsmith::SPAN_TAGS, self.tags.join(",")));
        }
        for (key, value) in metadata {
            out.push(limits.json(format!("{}{key}", langsmith::METADATA_PREFIX), &scalar_or_text(value)));
        }
        if let Some(inputs) = content.inputs {
            out.push(limits.string(langsmith::PROMPT, limits.json_text(&wrapped(inputs, "input"))));
        }
        if let Some(output) = content.output {
            out.push(limits.string(langsmith::COMPLETION, limits.json_text(&wrapped(output, "output"))));
        }
    }

    fn langfuse(
        &self,
        out: &mut Vec<KeyValue>,
        facts: &ModelFacts<'_>,
        content: &Content<'_>,
        metadata: &Map<String, Json>,
        ending: &Ending<'_>,
        limits: Limits,
    ) {
        out.push(KeyValue::new(langfuse::OBSERVATION_TYPE, langfuse_type(self.info.kind)));
        if let Some(model) = facts.model_name() {
            out.push(limits.string(langfuse::OBSERVATION_MODEL_NAME, model.to_owned()));
        }
        if let Some(request) = facts.request.filter(|request| !request.params.is_empty()) {
            let params = Json::Object(request.params.clone()).to_string();
            out.push(limits.string(langfuse::OBSERVATION_MODEL_PARAMETERS, params));
        }
        if let Some(usage) = facts.usage {
            let mut details = json!({
                "input": usage.input_tokens,
                "output": usage.output_tokens,
                "total": usage.total_tokens,
            });
            if let (Some(n), Some(map)) = (usage.cache_read_tokens, details.as_object_mut()) {
                map.insert("input_cache_read".into(), n.into());
            }
            if let (Some(n), Some(map)) = (usage.reasoning_tokens, details.as_object_mut()) {
                map.insert("output_reasoning".into(), n.into());
            }
            out.push(KeyValue::new(langfuse::OBSERVATION_USAGE_DETAILS, details.to_string()));
        }
        if let Some(ttft) = facts.time_to_first_token {
            let first = self.start + ttft;
            out.push(KeyValue::new(langfuse::OBSERVATION_COMPLETION_START_TIME, rfc3339(first)));
        }
        if let Ending::Failure(error) = ending {
            out.push(KeyValue::new(langfuse::OBSERVATION_LEVEL, "ERROR"));
            out.push(limits.string(langfuse::OBSERVATION_STATUS_MESSAGE, error.message.clone()));
        }
        for (key, value) in metadata {
            out.push(limits.json(format!("{}{key}", langfuse::OBSERVATION_METADATA_PREFIX), &scalar_or_text(value)));
        }
        if let Some(inputs) = content.inputs {
            out.push(limits.string(langfuse::OBSERVATION_INPUT, limits.json_text(inputs)));
        }
        if let Some(output) = content.output {
            out.push(limits.string(langfuse::OBSERVATION_OUTPUT, limits.json_text(output)));
        }
        if self.info.parent_run_id.is_none() {
            out.push(limits.string(langfuse::TRACE_NAME, self.info.name.to_string()));
            if !self.tags.is_empty() {
                out.push(KeyValue::new(langfuse::TRACE_TAGS, strings(limits, &self.tags)));
            }
        }
    }
}

/// What a model run knew of its model when it ended.
struct ModelFacts<'a> {
    request: Option<&'a ModelRequest>,
    outcome: Option<&'a ModelOutcome>,
    usage: Option<Usage>,
    time_to_first_token: Option<std::time::Duration>,
}

impl<'a> ModelFacts<'a> {
    fn of(run: &'a OpenRun, outcome: Option<&'a ModelOutcome>) -> Self {
        let time_to_first_token = outcome
            .and_then(|outcome| outcome.time_to_first_token)
            .or_else(|| run.first_token.and_then(|first| first.duration_since(run.start).ok()));
        ModelFacts {
            request: run.request.as_deref(),
            outcome,
            usage: outcome.and_then(|outcome| outcome.usage).or(run.usage),
            time_to_first_token,
        }
    }

    /// The model that answered, or else the one asked for.
    fn model_name(&self) -> Option<&'a str> {
        self.outcome
            .and_then(|outcome| outcome.response.as_ref())
            .and_then(|response| response.model.as_deref())
            .or_else(|| self.request.and_then(|request| request.model.as_deref()))
    }
}

/// The content a span may carry: none unless message content is recorded.
struct Content<'a> {
    inputs: Option<&'a Json>,
    output: Option<&'a Json>,
    messages: bool,
}

impl<'a> Content<'a> {
    fn of(run: &'a OpenRun, ending: &'a Ending<'a>, config: &Config) -> Self {
        if !config.content {
            return Content { inputs: None, output: None, messages: false };
        }
        let output = match ending {
            Ending::Output { outputs, .. } => Some(outputs.get()),
            Ending::Failure(_) => None,
        };
        Content { inputs: run.inputs.as_ref().map(Payload::get), output, messages: true }
    }
}

fn is_model(kind: RunKind) -> bool {
    matches!(kind, RunKind::Llm | RunKind::ChatModel | RunKind::Embedding)
}

fn operation_name(kind: RunKind) -> Option<&'static str> {
    Some(match kind {
        RunKind::ChatModel => "chat",
        RunKind::Llm => "text_completion",
        RunKind::Embedding => "embeddings",
        RunKind::Tool => "execute_tool",
        RunKind::Agent => "invoke_agent",
        _ => return None,
    })
}

/// GenAI's span name: `{operation} {model}` for model calls (the run's name when no model is
/// known), `{operation} {name}` for tools and agents, the run's name for the rest.
fn span_name(info: &RunInfo, model: Option<&str>, genai: bool) -> Cow<'static, str> {
    match (genai, operation_name(info.kind)) {
        (true, Some(operation)) if is_model(info.kind) => {
            Cow::Owned(format!("{operation} {}", model.unwrap_or(&info.name)))
        }
        (true, Some(operation)) => Cow::Owned(format!("{operation} {}", info.name)),
        _ => info.name.clone(),
    }
}

fn openinference_kind(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Llm | RunKind::ChatModel => "LLM",
        RunKind::Chain | RunKind::Parser | RunKind::Prompt => "CHAIN",
        RunKind::Tool => "TOOL",
        RunKind::Retriever => "RETRIEVER",
        RunKind::Embedding => "EMBEDDING",
        RunKind::Agent => "AGENT",
        _ => "UNKNOWN",
    }
}

/// LangSmith's run types; a chat model is an `llm` there, an agent a `chain`.
fn langsmith_kind(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Llm | RunKind::ChatModel => "llm",
        RunKind::Tool => "tool",
        RunKind::Retriever => "retriever",
        RunKind::Embedding => "embedding",
        RunKind::Prompt => "prompt",
        RunKind::Parser => "parser",
        _ => "chain",
    }
}

fn langfuse_type(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Llm | RunKind::ChatModel => "generation",
        RunKind::Embedding => "embedding",
        RunKind::Tool => "tool",
        RunKind::Agent => "agent",
        RunKind::Chain => "chain",
        RunKind::Retriever => "retriever",
        _ => "span",
    }
}

pub(crate) fn cause_name(cause: ErrorCause) -> &'static str {
    match cause {
        ErrorCause::Returned => "returned",
        ErrorCause::Panicked => "panicked",
        ErrorCause::Cancelled => "cancelled",
        ErrorCause::Stopped => "stopped",
        _ => "error",
    }
}

/// The GenAI attribute of a request parameter, by the names providers use for it.
fn genai_param(param: &str) -> Option<&'static str> {
    Some(match param {
        "temperature" => genai::REQUEST_TEMPERATURE,
        "max_tokens" | "max_output_tokens" | "max_completion_tokens" => genai::REQUEST_MAX_TOKENS,
        "top_p" => genai::REQUEST_TOP_P,
        "top_k" => genai::REQUEST_TOP_K,
        "stop" | "stop_sequences" => genai::REQUEST_STOP_SEQUENCES,
        "frequency_penalty" => genai::REQUEST_FREQUENCY_PENALTY,
        "presence_penalty" => genai::REQUEST_PRESENCE_PENALTY,
        "seed" => genai::REQUEST_SEED,
        _ => return None,
    })
}

/// Messages in GenAI's JSON form: `[{"role": .., "parts": [{"type": "text", "content": ..}]}]`.
fn genai_messages(messages: &[Message]) -> Json {
    Json::Array(
        messages
            .iter()
            .map(|message| {
                let mut parts = Vec::new();
                if !message.content.is_empty() {
                    parts.push(json!({"type": "text", "content": message.content}));
                }
                for call in &message.tool_calls {
                    let mut part = json!({"type": "tool_call", "name": call.name, "arguments": call.arguments});
                    if let (Some(id), Some(map)) = (&call.id, part.as_object_mut()) {
                        map.insert("id".into(), id.clone().into());
                    }
                    parts.push(part);
                }
                json!({"role": message.role, "parts": parts})
            })
            .collect(),
    )
}

/// OpenInference's flattened messages: `{prefix}.{i}.message.role`, `.content`, and
/// `.tool_calls.{j}.tool_call.function.name` / `.arguments`.
fn flat_messages(out: &mut Vec<KeyValue>, limits: Limits, prefix: &str, messages: &[Message]) {
    for (i, message) in messages.iter().enumerate() {
        out.push(limits.string(format!("{prefix}.{i}.message.role"), message.role.clone()));
        out.push(limits.string(format!("{prefix}.{i}.message.content"), message.content.clone()));
        for (j, call) in message.tool_calls.iter().enumerate() {
            let call_prefix = format!("{prefix}.{i}.message.tool_calls.{j}.tool_call");
            out.push(limits.string(format!("{call_prefix}.function.name"), call.name.clone()));
            out.push(limits.string(format!("{call_prefix}.function.arguments"), call.arguments.to_string()));
            if let Some(id) = &call.id {
                out.push(limits.string(format!("{call_prefix}.id"), id.clone()));
            }
        }
    }
}

fn strings(limits: Limits, items: &[String]) -> Value {
    Value::Array(Array::String(items.iter().map(|item| StringValue::from(limits.text(item.clone()))).collect()))
}

fn mime_type(value: &Json) -> &'static str {
    if value.is_string() { "text/plain" } else { "application/json" }
}

/// A metadata value as one attribute: scalars as they are, the rest as JSON text.
fn scalar_or_text(value: &Json) -> Json {
    match value {
        Json::Array(_) | Json::Object(_) => Json::String(value.to_string()),
        other => other.clone(),
    }
}

/// Inputs and outputs as LangSmith stores them: an object, a bare value under `key`.
fn wrapped(value: &Json, key: &str) -> Json {
    if value.is_object() { value.clone() } else { json!({ key: value }) }
}
