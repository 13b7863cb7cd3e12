//! What the integration tests share: a recorder to assert on and ways to read it, the error
//! the traced functions return, handlers that misbehave on purpose or only count, an argument
//! that counts its serializations, and a collector of runtrace's warnings.
//!
//! Each test binary declares this module. The macro tests use all of it; the runtime's and the
//! allocation tests use a part, and allow the rest to go unused where they declare it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use runtrace::event::{EventType, RunEnd, RunError, RunInfo, RunStart};
use runtrace::handlers::{HandlerResult, Ignore, RecordingHandler};
use runtrace::{CallbackError, CallbackHandler, CallbackManager, Event, EventData, RunKind, RunManager};
use serde::Serialize;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

// ---------------------------------------------------------------------------------------------
// The recorder and what it saw

/// A recorder, and request callbacks that report to it alone.
pub fn recording() -> (Arc<RecordingHandler>, CallbackManager) {
    recording_with(RecordingHandler::new())
}

/// A recorder that ignores the events in `ignore`, and request callbacks that report to it
/// alone.
pub fn recording_ignoring(ignore: Ignore) -> (Arc<RecordingHandler>, CallbackManager) {
    recording_with(RecordingHandler::new().with_ignore(ignore))
}

fn recording_with(recorder: RecordingHandler) -> (Arc<RecordingHandler>, CallbackManager) {
    let recorder = Arc::new(recorder);
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    (recorder, callbacks)
}

/// The names of the runs that started, in start order.
pub fn names(recorder: &RecordingHandler) -> Vec<String> {
    recorder.runs().into_iter().map(|run| run.name.into_owned()).collect()
}

/// The first run named `name`.
pub fn run_named(recorder: &RecordingHandler, name: &str) -> RunInfo {
    recorder.runs().into_iter().find(|run| run.name == name).unwrap_or_else(|| panic!("no run named `{name}`"))
}

/// The data of the events `pick` keeps, in order, each with the name of its run.
fn events_of<T>(recorder: &RecordingHandler, pick: impl Fn(EventData<'static>) -> Option<T>) -> Vec<(String, T)> {
    recorder.events().into_iter().filter_map(|event| Some((event.run.name.to_string(), pick(event.data)?))).collect()
}

/// Every start event: the run's name and its inputs, tags and metadata.
pub fn starts(recorder: &RecordingHandler) -> Vec<(String, RunStart<'static>)> {
    events_of(recorder, |data| match data {
        EventData::Start(start) => Some(start),
        _ => None,
    })
}

/// Every end event: the run's name and its outputs.
pub fn ends(recorder: &RecordingHandler) -> Vec<(String, RunEnd<'static>)> {
    events_of(recorder, |data| match data {
        EventData::End(end) => Some(end),
        _ => None,
    })
}

/// Every error event: the run's name and its error.
pub fn errors(recorder: &RecordingHandler) -> Vec<(String, RunError)> {
    events_of(recorder, |data| match data {
        EventData::Error(error) => Some(error),
        _ => None,
    })
}

/// The `what` event of the first run named `name`, out of `events`.
fn event_of<T>(events: Vec<(String, T)>, what: &str, name: &str) -> T {
    events
        .into_iter()
        .find_map(|(run, data)| (run == name).then_some(data))
        .unwrap_or_else(|| panic!("no {what} event for run `{name}`"))
}

/// The start of the run named `name`.
pub fn start_of(recorder: &RecordingHandler, name: &str) -> RunStart<'static> {
    event_of(starts(recorder), "start", name)
}

/// The error of the run named `name`.
pub fn error_of(recorder: &RecordingHandler, name: &str) -> RunError {
    event_of(errors(recorder), "error", name)
}

/// The only error event; fails the test if there is none or more than one.
pub fn the_error(recorder: &RecordingHandler) -> RunError {
    let errors = errors(recorder);
    let [(_, error)] = &errors[..] else { panic!("expected one error event, got {errors:?}") };
    error.clone()
}

/// The inputs of every start, in order.
pub fn inputs(recorder: &RecordingHandler) -> Vec<Value> {
    starts(recorder).into_iter().map(|(_, start)| start.inputs.get().clone()).collect()
}

/// The outputs of every end, in order.
pub fn outputs(recorder: &RecordingHandler) -> Vec<Value> {
    ends(recorder).into_iter().map(|(_, end)| end.outputs.get().clone()).collect()
}

/// The inputs of the run named `name`.
pub fn inputs_of(recorder: &RecordingHandler, name: &str) -> Value {
    start_of(recorder, name).inputs.get().clone()
}

/// The outputs of the run named `name`.
pub fn outputs_of(recorder: &RecordingHandler, name: &str) -> Value {
    event_of(ends(recorder), "end", name).outputs.get().clone()
}

/// The tags of the run named `name`.
pub fn tags_of(recorder: &RecordingHandler, name: &str) -> Vec<String> {
    start_of(recorder, name).tags.to_vec()
}

/// The metadata of the run named `name`, as a JSON object.
pub fn metadata_of(recorder: &RecordingHandler, name: &str) -> Value {
    Value::Object(start_of(recorder, name).metadata.to_map())
}

/// The tags of every start, with the run's name.
pub fn tags_by_run(recorder: &RecordingHandler) -> Vec<(String, Vec<String>)> {
    starts(recorder).into_iter().map(|(name, start)| (name, start.tags.to_vec())).collect()
}

/// The metadata of every start as a JSON object, with the run's name.
pub fn metadata_by_run(recorder: &RecordingHandler) -> Vec<(String, Value)> {
    starts(recorder).into_iter().map(|(name, start)| (name, Value::Object(start.metadata.to_map()))).collect()
}

// ---------------------------------------------------------------------------------------------
// The handlers a run reports to

/// The names of the handlers a run reports to.
pub fn handler_names(run: &RunManager) -> Vec<String> {
    run.handlers().iter().map(|handler| handler.name().to_owned()).collect()
}

/// Whether the console handler is among `handlers`.
pub fn has_console(handlers: &[String]) -> bool {
    handlers.iter().any(|name| name.ends_with("ConsoleHandler"))
}

/// Whether the console handler is among the handlers `run` reports to.
pub fn reports_to_console(run: &RunManager) -> bool {
    has_console(&handler_names(run))
}

// ---------------------------------------------------------------------------------------------
// What traced functions return, and what they are given

/// The error of the traced functions under test: their own failure, or the error of a
/// raising handler passed on with `?`.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("bad input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// An argument or output that counts its serializations, to show when runtrace serializes
/// and when it does not.
#[derive(Clone, Default)]
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    pub fn serializations(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Counts the events of one type and never reads their data, so that nothing lazily
/// serialized (inputs, outputs, errors) is ever asked for on its behalf.
pub struct EventCounter {
    of: EventType,
    count: AtomicUsize,
}

impl EventCounter {
    pub fn new(of: EventType) -> Arc<Self> {
        Arc::new(EventCounter { of, count: AtomicUsize::new(0) })
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl CallbackHandler for EventCounter {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        if event.event_type() == self.of {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// The error a [`Faulty`] handler fails with: its message.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerFault(pub &'static str);

/// A handler that misbehaves on purpose: at the events it is told (of runs of one kind, if
/// told) it fails with a [`HandlerFault`] or panics, and it hears every other event quietly.
/// Whether it raises, stopping the run, or is only reported is what its tests are about, so
/// it does not raise unless [`raising`](Self::raising) says so.
pub struct Faulty {
    name: &'static str,
    /// The events it misbehaves at; `None`: every event.
    at: Option<Vec<EventType>>,
    kind: Option<RunKind>,
    message: &'static str,
    panics: bool,
    raises: bool,
}

impl Faulty {
    fn new(name: &'static str, at: Option<Vec<EventType>>, message: &'static str, panics: bool) -> Self {
        Faulty { name, at, kind: None, message, panics, raises: false }
    }

    /// Fails with `HandlerFault(message)` at the events `at`.
    pub fn fails_at<const N: usize>(name: &'static str, at: [EventType; N], message: &'static str) -> Self {
        Self::new(name, Some(at.to_vec()), message, false)
    }

    /// Fails with `HandlerFault(message)` at every event.
    #[allow(dead_code, reason = "the runtime's fault tests use it, the macro tests do not")]
    pub fn fails_at_every_event(name: &'static str, message: &'static str) -> Self {
        Self::new(name, None, message, false)
    }

    /// Panics with `message` at the events `at`.
    #[allow(dead_code, reason = "the runtime's fault tests use it, the macro tests do not")]
    pub fn panics_at<const N: usize>(name: &'static str, at: [EventType; N], message: &'static str) -> Self {
        Self::new(name, Some(at.to_vec()), message, true)
    }

    /// Misbehaves only at the events of runs of `kind`.
    pub fn of_kind(self, kind: RunKind) -> Self {
        Faulty { kind: Some(kind), ..self }
    }

    /// Opts in to raising: its failures stop the run with a `CallbackError`.
    pub fn raising(self) -> Self {
        Faulty { raises: true, ..self }
    }
}

impl CallbackHandler for Faulty {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let at = self.at.as_ref().is_none_or(|at| at.contains(&event.event_type()));
        let kind = self.kind.is_none_or(|kind| kind == event.run.kind);
        match (at && kind, self.panics) {
            (false, _) => Ok(()),
            (true, false) => Err(Box::new(HandlerFault(self.message))),
            (true, true) => panic!("{}", self.message),
        }
    }

    fn raise_error(&self) -> bool {
        self.raises
    }

    fn name(&self) -> &str {
        self.name
    }
}

// ---------------------------------------------------------------------------------------------
// runtrace's warnings

/// A warning runtrace reported: its `handler` field, if any, and its message.
#[derive(Debug, Clone, Default)]
pub struct Warning {
    pub handler: Option<String>,
    pub message: String,
}

impl Visit for Warning {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "handler" {
            self.handler = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "handler" => self.handler = Some(format!("{value:?}").trim_matches('"').to_owned()),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

/// Collects the WARN events of target `runtrace`.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<Warning>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() == tracing::Level::WARN && metadata.target() == "runtrace" {
            let mut warning = Warning::default();
            event.record(&mut warning);
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(warning);
        }
    }
}

/// Runs `f` with a subscriber that collects runtrace's warnings on this thread.
pub fn with_warnings<R>(f: impl FnOnce() -> R) -> (R, Vec<Warning>) {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let result = tracing::subscriber::with_default(subscriber, f);
    let collected = warnings.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (result, collected)
}

// ---------------------------------------------------------------------------------------------
// Spans, as a `tracing` subscriber sees them

/// One span: its name, the index of its parent span in the log, its fields as text (the last
/// value recorded wins), how many times it was entered and exited while open, and how many
/// times it closed.
#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    pub name: String,
    pub parent: Option<usize>,
    pub fields: std::collections::BTreeMap<String, String>,
    pub entered: usize,
    pub exited: usize,
    pub closed: usize,
}

impl SpanRecord {
    /// The field `name`, or `""` if never recorded.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// One event: its message, the index of the span it happened in, and the thread it was
/// logged on.
#[derive(Clone, Debug)]
pub struct EventRecord {
    pub message: String,
    pub span: Option<usize>,
    pub thread: std::thread::ThreadId,
}

#[derive(Default)]
struct SpanLogState {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// A layer that logs every span (parent, fields, records, closes) and every event with the
/// span it happened in, by a log index that stays unique when the registry reuses ids.
#[derive(Clone, Default)]
pub struct SpanLog(Arc<Mutex<SpanLogState>>);

struct LogIndex(usize);

struct Fields<'a>(&'a mut std::collections::BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl SpanLog {
    /// A subscriber made of a registry and this log.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry().with(self.clone())
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).spans.clone()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<EventRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).events.clone()
    }

    /// The index of the only span whose `field` is `value`.
    pub fn span_with(&self, field: &str, value: &str) -> usize {
        let found: Vec<usize> =
            self.spans().iter().enumerate().filter(|(_, span)| span.field(field) == value).map(|(i, _)| i).collect();
        let [index] = found[..] else { panic!("expected one span with {field} = {value}, got {found:?}") };
        index
    }

    fn index_of<S>(ctx: &Context<'_, S>, id: &tracing::span::Id) -> Option<usize>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        ctx.span(id)?.extensions().get::<LogIndex>().map(|index| index.0)
    }
}

impl<S> Layer<S> for SpanLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|parent| parent.extensions().get::<LogIndex>().map(|index| index.0));
        let mut record = SpanRecord { name: attrs.metadata().name().to_owned(), parent, ..SpanRecord::default() };
        attrs.record(&mut Fields(&mut record.fields));
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        span.extensions_mut().insert(LogIndex(state.spans.len()));
        state.spans.push(record);
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        let Some(index) = Self::index_of(&ctx, id) else { return };
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        values.record(&mut Fields(&mut state.spans[index].fields));
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event).and_then(|span| span.extensions().get::<LogIndex>().map(|index| index.0));
        let mut fields = std::collections::BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap_or_else(PoisonError::into_inner).events.push(EventRecord {
            message,
            span,
            thread: std::thread::current().id(),
        });
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let Some(index) = Self::index_of(&ctx, id) else { return };
        self.0.lock().unwrap_or_else(PoisonError::into_inner).spans[index].entered += 1;
    }

    // An exit after the span closed finds no span, and is not counted: a span closed while
    // entered shows as entered more often than exited.
    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let Some(index) = Self::index_of(&ctx, id) else { return };
        self.0.lock().unwrap_or_else(PoisonError::into_inner).spans[index].exited += 1;
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let Some(index) = Self::index_of(&ctx, &id) else { return };
        self.0.lock().unwrap_or_else(PoisonError::into_inner).spans[index].closed += 1;
    }
}
