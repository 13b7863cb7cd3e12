//! What handlers hear: one [`Event`] per thing that happens to a run.
//!
//! An [`Event`] carries the run it belongs to ([`RunInfo`]) and what happened
//! ([`EventData`]); inputs and outputs are [`Payload`]s, made into JSON only when a handler
//! reads them, and the event's time is read only when a handler asks for it.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use runtrace_runtime::{CallbackManager, RunKind};
//! use runtrace_runtime::handlers::{RecordingHandler, TokenBudget};
//!
//! static SERIALIZED: AtomicUsize = AtomicUsize::new(0);
//!
//! /// A prompt that counts how often it is turned into JSON.
//! struct Prompt(&'static str);
//!
//! impl serde::Serialize for Prompt {
//!     fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
//!         SERIALIZED.fetch_add(1, Ordering::Relaxed);
//!         serializer.serialize_str(self.0)
//!     }
//! }
//!
//! // A token budget never reads inputs: the prompt is not serialized.
//! let budgeted = CallbackManager::new().with_handler(TokenBudget::streamed(100));
//! budgeted.start_run(RunKind::Llm, "fake_llm", &Prompt("Say hello"))?.end(&"Hello")?;
//! assert_eq!(SERIALIZED.load(Ordering::Relaxed), 0);
//!
//! // A recorder keeps every event, inputs included: the prompt is serialized once.
//! let recorder = Arc::new(RecordingHandler::new());
//! let recorded = CallbackManager::new().with_handler(recorder.clone());
//! recorded.start_run(RunKind::Llm, "fake_llm", &Prompt("Say hello"))?.end(&"Hello")?;
//! assert_eq!(SERIALIZED.load(Ordering::Relaxed), 1);
//! # Ok::<(), runtrace_runtime::CallbackError>(())
//! ```

mod data;
mod depth;
mod id;
mod info;
mod kind;
mod model;
pub(crate) mod payload;
pub(crate) mod render;
mod tags;
mod time;

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

pub use data::{AgentAction, AgentFinish, CustomEvent, ErrorCause, EventData, Retry, RunEnd, RunError, RunStart};
pub(crate) use id::IdMap;
pub use id::RunId;
pub use info::RunInfo;
pub use kind::{RunKind, UnknownRunKind};
pub use model::{Message, ModelOutcome, ModelOutput, ModelRequest, ModelResponse, ToolCall, Usage};
pub use payload::Payload;
pub use tags::{Metadata, Tags};
use time::EventTime;

/// One thing that happened to a run, as handlers receive it: the run's identity ([`run`]),
/// what happened ([`data`]), and when ([`time`](Event::time)).
///
/// Borrowed data (`'a`) lets a synchronous handler read inputs and outputs without copies;
/// [`Event::to_static`] makes the owned copy that background handlers receive.
///
/// [`run`]: Event::run
/// [`data`]: Event::data
///
/// ```
/// use runtrace_runtime::{CallbackHandler, Event, EventData, RunKind};
/// use runtrace_runtime::handlers::HandlerResult;
///
/// struct ErrorLog;
///
/// impl CallbackHandler for ErrorLog {
///     fn on_event(&self, event: &Event<'_>) -> HandlerResult {
///         if let EventData::Error(error) = &event.data {
///             eprintln!("{} `{}` failed: {error}", event.run.kind, event.run.name);
///         }
///         Ok(())
///     }
/// }
/// ```
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

/// Which event a handler is being told about.
///
/// ```
/// use runtrace_runtime::event::EventType;
/// assert_eq!(EventType::NewToken.to_string(), "new_token");
/// assert_eq!(EventType::NewToken.method(), "on_llm_new_token");
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
    /// [`EventData::Usage`].
    Usage,
    /// [`EventData::Metadata`].
    Metadata,
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
            EventType::Usage => "on_usage",
            EventType::Metadata => "on_metadata",
        }
    }
}

impl EventType {
    /// The event's name, as messages and logs show it: `start`, `end`, `error`, `new_token`,
    /// `text`, `retry`, `agent_action`, `agent_finish`, `custom_event`, `usage`, `metadata`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "prompt", &"hi")?;
    /// run.on_text("Q: hi\nA:")?;
    /// run.end(&"hello")?;
    /// let names: Vec<_> = recorder.event_types().into_iter().map(|event| event.name()).collect();
    /// assert_eq!(names, ["start", "text", "end"]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            EventType::Start => "start",
            EventType::End => "end",
            EventType::Error => "error",
            EventType::NewToken => "new_token",
            EventType::Text => "text",
            EventType::Retry => "retry",
            EventType::AgentAction => "agent_action",
            EventType::AgentFinish => "agent_finish",
            EventType::Custom => "custom_event",
            EventType::Usage => "usage",
            EventType::Metadata => "metadata",
        }
    }
}

/// The event's [`name`](EventType::name), as a [`CallbackError`](crate::CallbackError)'s
/// message names the event a handler stopped the run at.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::event::EventType;
/// use runtrace_runtime::handlers::TokenBudget;
///
/// assert_eq!(EventType::Custom.to_string(), "custom_event");
///
/// let run = CallbackManager::new().with_handler(TokenBudget::streamed(0)).start_run(RunKind::Llm, "fake_llm", &"hi")?;
/// let stop = run.on_llm_new_token("Hel").unwrap_err();
/// assert!(stop.to_string().contains(&format!("at its `{}` event", EventType::NewToken)));
/// run.error(&stop)?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'a> Event<'a> {
    /// The event `data` of the run `run`, its time read when first asked for: how runtrace
    /// makes the events it sends, and how a handler's own unit tests can make theirs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use runtrace_runtime::{CallbackHandler, Event, EventData, RunKind};
    /// use runtrace_runtime::event::RunInfo;
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// #[derive(Default)]
    /// struct TokenCounter(AtomicUsize);
    ///
    /// impl CallbackHandler for TokenCounter {
    ///     fn on_llm_new_token(&self, _event: &Event<'_>, _token: &str) -> HandlerResult {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let llm = RunInfo::new(RunKind::Llm, "fake_llm");
    /// let counter = TokenCounter::default();
    /// let token = Event::new(&llm, EventData::NewToken("Hel".into()));
    /// counter.on_llm_new_token(&token, "Hel")?;
    /// assert_eq!(counter.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), runtrace_runtime::handlers::HandlerError>(())
    /// ```
    #[must_use]
    pub fn new(run: &'a RunInfo, data: EventData<'a>) -> Self {
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
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
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
    ///
    /// ```
    /// use runtrace_runtime::{Event, EventData, RunKind};
    /// use runtrace_runtime::event::{EventType, RunInfo};
    ///
    /// let llm = RunInfo::new(RunKind::Llm, "fake_llm");
    /// let token = Event::new(&llm, EventData::NewToken("Hel".into()));
    /// assert_eq!(token.event_type(), EventType::NewToken);
    /// assert_eq!(token.event_type().method(), "on_llm_new_token");
    /// ```
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
            EventData::Usage(_) => EventType::Usage,
            EventData::Metadata(_) => EventType::Metadata,
        }
    }

    /// An owned copy, making any payload that was not made yet. Payloads are shared with
    /// `self`, not copied: see [`Payload::to_static`].
    ///
    /// A handler keeps what it hears past the call with an owned copy:
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use runtrace_runtime::{CallbackHandler, Event, EventData, RunKind};
    /// use runtrace_runtime::event::{ErrorCause, RunError, RunInfo};
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// #[derive(Default)]
    /// struct LastFailure(Mutex<Option<Event<'static>>>);
    ///
    /// impl CallbackHandler for LastFailure {
    ///     fn on_event(&self, event: &Event<'_>) -> HandlerResult {
    ///         if let EventData::Error(_) = event.data {
    ///             *self.0.lock().unwrap() = Some(event.to_static());
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let handler = LastFailure::default();
    /// let search = RunInfo::new(RunKind::Retriever, "search");
    /// let failed = Event::new(&search, EventData::Error(RunError::new("index offline", ErrorCause::Returned)));
    /// handler.on_event(&failed)?;
    /// drop(failed);
    ///
    /// let kept = handler.0.lock().unwrap().take().expect("kept by the handler");
    /// assert_eq!(kept.run.name, "search");
    /// assert!(matches!(&kept.data, EventData::Error(error) if error.message == "index offline"));
    /// # Ok::<(), runtrace_runtime::handlers::HandlerError>(())
    /// ```
    #[must_use]
    pub fn to_static(&self) -> Event<'static> {
        self.owned(Payload::to_static)
    }

    /// An owned copy whose inputs and outputs are [omitted](Payload::omitted), none made:
    /// for background handlers that all said they do not read them
    /// ([`Ignore::PAYLOADS`](crate::handlers::Ignore::PAYLOADS)).
    pub(crate) fn to_static_without_payloads(&self) -> Event<'static> {
        self.owned(|_| Payload::omitted())
    }

    /// An owned copy, with `payload` making the copy of each payload.
    fn owned(&self, payload: impl Fn(&Payload<'a>) -> Payload<'static>) -> Event<'static> {
        Event {
            run: Cow::Owned(self.run.clone().into_owned()),
            time: self.time.fixed(),
            data: match &self.data {
                EventData::Start(start) => EventData::Start(RunStart {
                    inputs: payload(&start.inputs),
                    tags: start.tags.clone(),
                    metadata: start.metadata.clone(),
                    model: start.model.clone(),
                }),
                EventData::End(end) => {
                    EventData::End(RunEnd { outputs: payload(&end.outputs), model: end.model.clone() })
                }
                EventData::Error(error) => EventData::Error(error.clone()),
                EventData::NewToken(token) => EventData::NewToken(Cow::Owned(token.clone().into_owned())),
                EventData::Text(text) => EventData::Text(Cow::Owned(text.clone().into_owned())),
                EventData::Retry(retry) => EventData::Retry(retry.clone()),
                EventData::AgentAction(action) => EventData::AgentAction(action.clone()),
                EventData::AgentFinish(finish) => EventData::AgentFinish(finish.clone()),
                EventData::Custom(custom) => EventData::Custom(custom.clone()),
                EventData::Usage(usage) => EventData::Usage(*usage),
                EventData::Metadata(metadata) => EventData::Metadata(metadata.clone()),
            },
        }
    }
}

impl Clone for Event<'_> {
    fn clone(&self) -> Self {
        self.to_static()
    }
}
