//! What handlers hear: one [`Event`] per thing that happens to a run.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::handler::Ignore;
use crate::traced::Field;
use crate::{Metadata, RunId, RunKind, Tags};

/// The identity of a run, carried by each of its events.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// let recorder = std::sync::Arc::new(runtrace_runtime::RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// let run = callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?;
/// run.end(&4)?;
/// let info = &recorder.events()[0].run;
/// assert_eq!((info.kind, &*info.name), (RunKind::Tool, "calculator"));
/// assert_eq!(info.trace_id, info.run_id); // a root run starts its own trace
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunInfo {
    /// This run's id.
    pub run_id: RunId,
    /// The id of the run this one is a child of; `None` for a root.
    pub parent_run_id: Option<RunId>,
    /// The id of the root run of this run's tree.
    pub trace_id: RunId,
    /// What the run is.
    pub kind: RunKind,
    /// Its name: the function's, unless `name = "..."` said otherwise.
    pub name: Cow<'static, str>,
    /// The parent's dotted order, only when the parent runs in another process and was read
    /// from trace headers (see [`TraceContext`](crate::TraceContext)); `None` otherwise.
    /// Tracers compute the dotted orders of local runs themselves, from start times they
    /// saw, so the core never formats one.
    pub parent_dotted_order: Option<Arc<str>>,
}

/// One thing that happened to a run, as handlers receive it.
///
/// Borrowed data (`'a`) lets a synchronous handler read inputs and outputs without copies;
/// [`Event::to_static`] makes the owned copy that background handlers receive.
#[derive(Debug)]
#[non_exhaustive]
pub struct Event<'a> {
    /// The run the event belongs to.
    pub run: Cow<'a, RunInfo>,
    /// When it happened: see [`time`](Self::time).
    time: EventTime,
    /// What happened.
    pub data: EventData<'a>,
}

/// What happened, with the data that belongs to it.
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
}

/// Which event a handler is being told about: names the method it arrives at.
///
/// ```
/// use runtrace_runtime::EventType;
/// assert_eq!(EventType::NewToken.to_string(), "on_llm_new_token");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// [`EventData::Start`].
    Start,
    /// [`EventData::End`].
    End,
    /// [`EventData::Error`].
    Error,
    /// [`EventData::NewToken`].
    NewToken,
    /// [`EventData::Text`].
    Text,
    /// [`EventData::Retry`].
    Retry,
    /// [`EventData::AgentAction`].
    AgentAction,
    /// [`EventData::AgentFinish`].
    AgentFinish,
    /// [`EventData::Custom`].
    Custom,
}

impl EventType {
    /// The [`CallbackHandler`](crate::CallbackHandler) method the event arrives at.
    #[must_use]
    pub const fn method(self) -> &'static str {
        match self {
            EventType::Start => "on_run_start",
            EventType::End => "on_run_end",
            EventType::Error => "on_run_error",
            EventType::NewToken => "on_llm_new_token",
            EventType::Text => "on_text",
            EventType::Retry => "on_retry",
            EventType::AgentAction => "on_agent_action",
            EventType::AgentFinish => "on_agent_finish",
            EventType::Custom => "on_custom_event",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method())
    }
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
}

/// An end: the run's output.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunEnd<'a> {
    /// The output as JSON.
    pub outputs: Payload<'a>,
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
    /// use runtrace_runtime::{ErrorCause, RunError};
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
    /// A handler that raises stopped the run.
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

/// An agent's decision to call a tool.
///
/// ```
/// use runtrace_runtime::AgentAction;
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
/// use runtrace_runtime::AgentFinish;
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

/// A JSON value that is made only when a handler first asks for it, then shared.
///
/// Traced functions hand their inputs and outputs over as payloads, so a run whose handlers
/// never read them never serializes them, and the handlers that do read them share one
/// serialization. The owned copy that background handlers receive shares the value instead
/// of copying it, unless a sync handler read it first. The tracer alone, which keeps inputs
/// and outputs in maps of its own, writes them there directly when it is the first to ask;
/// a handler after it that reads them makes them again.
pub struct Payload<'a>(PayloadRepr<'a>);

enum PayloadRepr<'a> {
    Deferred { make: Make<'a>, value: OnceLock<Made> },
    Ready(Arc<Value>),
}

/// How a deferred payload is made.
#[derive(Clone, Copy)]
pub(crate) enum Make<'a> {
    /// By a function that returns the value.
    Value(&'a (dyn Fn() -> Value + Sync + 'a)),
    /// From the arguments of a traced function: the object `{argument: value}`.
    Fields(&'a [Field<'a>]),
}

impl Make<'_> {
    fn make(self) -> Value {
        match self {
            Make::Value(make) => make(),
            Make::Fields(fields) => {
                let mut object = Map::new();
                insert_fields(&mut object, fields);
                Value::Object(object)
            }
        }
    }
}

/// A deferred payload's value, made for whoever asked first. Sync handlers only borrow it,
/// so it stays where it is, without an allocation of its own; an owned copy of the event
/// needs it shared, so when that comes first the value is made straight into an `Arc`.
enum Made {
    Borrowed(Value),
    Shared(Arc<Value>),
}

impl Made {
    fn value(&self) -> &Value {
        match self {
            Made::Borrowed(value) => value,
            Made::Shared(value) => value,
        }
    }
}

impl<'a> Payload<'a> {
    /// A payload that is already JSON.
    ///
    /// ```
    /// let payload = runtrace_runtime::Payload::new(serde_json::json!({"x": 1}));
    /// assert_eq!(payload.get()["x"], 1);
    /// ```
    #[must_use]
    pub fn new(value: Value) -> Payload<'static> {
        Payload(PayloadRepr::Ready(Arc::new(value)))
    }

    /// A payload made by `make` on first use.
    ///
    /// ```
    /// let make = || serde_json::json!("made");
    /// let payload = runtrace_runtime::Payload::deferred(&make);
    /// assert_eq!(payload.get(), "made");
    /// ```
    #[must_use]
    pub fn deferred(make: &'a (dyn Fn() -> Value + Sync + 'a)) -> Self {
        Self::made_by(Make::Value(make))
    }

    /// A payload made by `make` on first use.
    pub(crate) fn made_by(make: Make<'a>) -> Self {
        Payload(PayloadRepr::Deferred { make, value: OnceLock::new() })
    }

    /// The JSON value, made now if no one asked before.
    #[must_use]
    pub fn get(&self) -> &Value {
        match &self.0 {
            PayloadRepr::Deferred { make, value } => value.get_or_init(|| Made::Borrowed(make.make())).value(),
            PayloadRepr::Ready(value) => value,
        }
    }

    /// An owned payload with the same value, made now if no one asked before. A value not
    /// yet made, or already shared, is shared rather than copied.
    ///
    /// ```
    /// let make = || serde_json::json!({"prompt": "hi"});
    /// let payload = runtrace_runtime::Payload::deferred(&make);
    /// let owned = payload.to_static();
    /// assert_eq!(owned.get()["prompt"], "hi");
    /// assert!(std::ptr::eq(owned.get(), payload.get()), "one value, made once");
    /// ```
    #[must_use]
    pub fn to_static(&self) -> Payload<'static> {
        let shared = match &self.0 {
            PayloadRepr::Deferred { make, value } => match value.get_or_init(|| Made::Shared(Arc::new(make.make()))) {
                Made::Borrowed(value) => Arc::new(value.clone()),
                Made::Shared(value) => Arc::clone(value),
            },
            PayloadRepr::Ready(value) => Arc::clone(value),
        };
        Payload(PayloadRepr::Ready(shared))
    }
}

impl Payload<'_> {
    /// Makes `into` the value as a JSON object (`{key: value}` for a value that is not one),
    /// writing over what `into` holds: the tracer keeps a run's inputs and outputs this way,
    /// in maps of earlier runs, whose keys are those of the next call of the same function.
    ///
    /// A traced call's arguments that no handler made into a value yet are written straight
    /// into `into`, without a value of their own, so keeping them costs no allocation when
    /// the keys match. Any other payload not yet made is made for `into` alone and moved
    /// in, never copied. Either way the payload stays unmade for the handlers after: they
    /// make it again if they read it.
    pub(crate) fn write_object(&self, into: &mut Map<String, Value>, key: &str) {
        let made = match &self.0 {
            PayloadRepr::Deferred { make, value } => match (value.get(), make) {
                (Some(made), _) => return assign(into, made.value(), key),
                (None, Make::Fields(fields)) => return write_fields(into, fields),
                (None, Make::Value(make)) => make(),
            },
            PayloadRepr::Ready(value) => return assign(into, value, key),
        };
        match made {
            Value::Object(object) => *into = object,
            other => {
                if let Some(slot) = wrapper(into, key) {
                    *slot = other;
                }
            }
        }
    }
}

/// Makes `map` the object `{name: value}` of `fields`, writing over its values in place
/// when it has their names as keys (in their order, where maps keep insertion order), so
/// that each argument is serialized once either way.
fn write_fields(map: &mut Map<String, Value>, fields: &[Field<'_>]) {
    let names = || fields.iter().map(|&(name, _)| name);
    let fits = map.len() == fields.len()
        && if maps_keep_insertion_order() {
            map.keys().map(String::as_str).eq(names())
        } else {
            map.keys().all(|key| names().any(|name| name == key))
        };
    if fits {
        for (key, slot) in map.iter_mut() {
            if let Some(&(_, value)) = fields.iter().find(|&&(name, _)| name == key) {
                *slot = value.to_json();
            }
        }
    } else {
        map.clear();
        insert_fields(map, fields);
    }
}

/// Inserts `{name: value}` for each of `fields`. One by one: collecting sorts the entries
/// first and bulk-builds the map, about twice the work for the few arguments a function has.
fn insert_fields(map: &mut Map<String, Value>, fields: &[Field<'_>]) {
    for &(name, value) in fields {
        map.insert(name.to_owned(), value.to_json());
    }
}

/// Whether serde_json keeps maps in insertion order (its `preserve_order` feature, which any
/// crate of the build may turn on) rather than sorted by key.
fn maps_keep_insertion_order() -> bool {
    static KEEP: OnceLock<bool> = OnceLock::new();
    *KEEP.get_or_init(|| {
        let mut map = Map::new();
        map.insert("b".to_owned(), Value::Null);
        map.insert("a".to_owned(), Value::Null);
        map.keys().next().is_some_and(|first| first == "b")
    })
}

/// Makes `map` a copy of the object `value`, or of `{key: value}` if `value` is not an
/// object, writing over the entries `map` has when they have the right keys.
fn assign(map: &mut Map<String, Value>, value: &Value, key: &str) {
    match value {
        Value::Object(object) if map.len() == object.len() && map.keys().eq(object.keys()) => {
            map.values_mut().zip(object.values()).for_each(|(to, from)| to.clone_from(from));
        }
        Value::Object(object) => map.clone_from(object),
        other => {
            if let Some(to) = wrapper(map, key) {
                to.clone_from(other);
            }
        }
    }
}

/// Makes `map` the one-entry object `{key: ..}`, keeping it if it is one, and gives the
/// entry's value.
fn wrapper<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Value> {
    // The one entry's key is compared directly: a lookup would search for it twice.
    if map.len() != 1 || map.keys().next().is_none_or(|kept| kept != key) {
        map.clear();
        map.insert(key.to_owned(), Value::Null);
    }
    map.values_mut().next()
}

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl Clone for Payload<'_> {
    fn clone(&self) -> Self {
        self.to_static()
    }
}

impl<'a> Event<'a> {
    pub(crate) fn new(run: &'a RunInfo, data: EventData<'a>) -> Self {
        Event { run: Cow::Borrowed(run), time: EventTime::unread(), data }
    }

    /// When the event happened, by the wall clock.
    ///
    /// The clock is read when a handler first asks, while the event is being dispatched, and
    /// every handler gets that same time (background handlers too: their copy is made with
    /// it). So an event no handler times costs no clock read, as its inputs cost no
    /// serialization when no handler reads them.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use runtrace_runtime::{CallbackManager, RecordingHandler, RunKind};
    ///
    /// let recorder = std::sync::Arc::new(RecordingHandler::new());
    /// let before = SystemTime::now();
    /// CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Tool, "clock", &())?.end(&())?;
    /// let events = recorder.events();
    /// assert!(before <= events[0].time() && events[0].time() <= events[1].time());
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn time(&self) -> SystemTime {
        self.time.get()
    }

    /// [`time`](Self::time) in whole microseconds since the Unix epoch, the tracer's unit,
    /// without a round trip through `SystemTime`.
    pub(crate) fn unix_micros(&self) -> i64 {
        i64::try_from(self.time.nanos() / 1_000).unwrap_or(i64::MAX)
    }

    /// Which event this is.
    #[must_use]
    pub fn event_type(&self) -> EventType {
        match &self.data {
            EventData::Start(_) => EventType::Start,
            EventData::End(_) => EventType::End,
            EventData::Error(_) => EventType::Error,
            EventData::NewToken(_) => EventType::NewToken,
            EventData::Text(_) => EventType::Text,
            EventData::Retry(_) => EventType::Retry,
            EventData::AgentAction(_) => EventType::AgentAction,
            EventData::AgentFinish(_) => EventType::AgentFinish,
            EventData::Custom(_) => EventType::Custom,
        }
    }

    /// An owned copy, making any payload that was not made yet. Payloads are shared with
    /// `self`, not copied: see [`Payload::to_static`].
    #[must_use]
    pub fn to_static(&self) -> Event<'static> {
        Event {
            run: Cow::Owned(self.run.clone().into_owned()),
            time: self.time.fixed(),
            data: match &self.data {
                EventData::Start(start) => EventData::Start(RunStart {
                    inputs: start.inputs.to_static(),
                    tags: start.tags.clone(),
                    metadata: start.metadata.clone(),
                }),
                EventData::End(end) => EventData::End(RunEnd { outputs: end.outputs.to_static() }),
                EventData::Error(error) => EventData::Error(error.clone()),
                EventData::NewToken(token) => EventData::NewToken(Cow::Owned(token.clone().into_owned())),
                EventData::Text(text) => EventData::Text(Cow::Owned(text.clone().into_owned())),
                EventData::Retry(retry) => EventData::Retry(retry.clone()),
                EventData::AgentAction(action) => EventData::AgentAction(action.clone()),
                EventData::AgentFinish(finish) => EventData::AgentFinish(finish.clone()),
                EventData::Custom(custom) => EventData::Custom(custom.clone()),
            },
        }
    }

    /// The ignore flag that silences this event for a handler (see [`Ignore`]).
    pub(crate) fn ignore_flag(kind: RunKind, data: &EventData<'_>) -> Ignore {
        match data {
            EventData::Retry(_) => Ignore::RETRY,
            EventData::Custom(_) => Ignore::CUSTOM_EVENT,
            EventData::AgentAction(_) | EventData::AgentFinish(_) => Ignore::AGENT,
            _ => Ignore::kind(kind),
        }
    }
}

/// The time of an event, read on first use: nanoseconds since the Unix epoch, 0 until read.
///
/// An atomic rather than a cell so that events stay `Sync`: a handler may share the event
/// it is given with threads it starts. The first reader's time wins.
struct EventTime(AtomicU64);

impl fmt::Debug for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl EventTime {
    const fn unread() -> Self {
        EventTime(AtomicU64::new(0))
    }

    /// The same time for an owned copy of the event, read now if no one asked before.
    fn fixed(&self) -> Self {
        EventTime(AtomicU64::new(self.nanos()))
    }

    fn get(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.nanos())
    }

    fn nanos(&self) -> u64 {
        let nanos = self.0.load(Ordering::Relaxed);
        if nanos != 0 {
            return nanos;
        }
        let now = since_epoch(SystemTime::now());
        match self.0.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => now,
            Err(first) => first,
        }
    }
}

/// Nanoseconds since the Unix epoch, at least 1 (0 means unread); a clock set before 1970
/// reads as the epoch, and one past 2554 as that year.
fn since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)).max(1)
}

impl Clone for Event<'_> {
    fn clone(&self) -> Self {
        self.to_static()
    }
}
