//! [`Ignore`]: the families of events a handler opts out of.

use std::fmt;
use std::ops::BitOr;

use crate::event::{EventData, RunKind};

/// A set of event families a handler opts out of, and what it does not read of the rest.
///
/// Run events (start, end, error, tokens, text) are silenced by the flag of their run's
/// kind; agent actions and finishes by [`Ignore::AGENT`]; retries by [`Ignore::RETRIES`];
/// custom events by [`Ignore::CUSTOM_EVENTS`]. LangChain's `ignore_llm`, `ignore_chain`,
/// ..., `ignore_custom_event`, as flags. [`Ignore::PAYLOADS`] silences no event: it says
/// the handler never reads inputs and outputs, so that its events are copied without them.
///
/// ```
/// use runtrace_runtime::RunKind;
/// use runtrace_runtime::handlers::Ignore;
/// let ignore = Ignore::LLM | Ignore::CHAT_MODEL;
/// assert!(ignore.contains(Ignore::kind(RunKind::Llm)));
/// assert!(!ignore.contains(Ignore::CHAIN));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ignore(u16);

impl Ignore {
    /// Nothing ignored.
    ///
    /// ```
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// assert_eq!(Ignore::default(), Ignore::NONE);
    /// assert!(Ignore::NONE.is_empty());
    /// ```
    pub const NONE: Ignore = Ignore(0);
    /// Chain runs.
    pub const CHAIN: Ignore = Ignore::kind(RunKind::Chain);
    /// LLM runs.
    pub const LLM: Ignore = Ignore::kind(RunKind::Llm);
    /// Chat model runs.
    pub const CHAT_MODEL: Ignore = Ignore::kind(RunKind::ChatModel);
    /// Tool runs.
    pub const TOOL: Ignore = Ignore::kind(RunKind::Tool);
    /// Retriever runs.
    pub const RETRIEVER: Ignore = Ignore::kind(RunKind::Retriever);
    /// Agent runs, agent actions and agent finishes.
    ///
    /// Agent actions and finishes are silenced whatever run sends them:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::{AgentAction, EventType};
    /// use runtrace_runtime::handlers::{Ignore, RecordingHandler};
    ///
    /// let recorder = Arc::new(RecordingHandler::new().with_ignore(Ignore::AGENT));
    /// let chain = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "loop", &"2+2?")?;
    /// chain.on_agent_action(AgentAction::new("calculator", serde_json::json!("2+2")))?;
    /// chain.end(&4)?;
    /// assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub const AGENT: Ignore = Ignore::kind(RunKind::Agent);
    /// Embedding runs.
    pub const EMBEDDING: Ignore = Ignore::kind(RunKind::Embedding);
    /// Parser runs.
    pub const PARSER: Ignore = Ignore::kind(RunKind::Parser);
    /// Prompt runs.
    pub const PROMPT: Ignore = Ignore::kind(RunKind::Prompt);
    /// Runs of kind `custom` (not custom events: see [`CUSTOM_EVENTS`](Self::CUSTOM_EVENTS)).
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// assert_eq!(Ignore::CUSTOM_RUNS, Ignore::kind(RunKind::Custom));
    /// assert!(!Ignore::CUSTOM_RUNS.contains(Ignore::CUSTOM_EVENTS));
    /// ```
    pub const CUSTOM_RUNS: Ignore = Ignore::kind(RunKind::Custom);
    /// Every run that is not a model run: all but `llm`, `chat_model` and `embedding`.
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// let heard: Vec<RunKind> =
    ///     RunKind::ALL.into_iter().filter(|&kind| !Ignore::NON_MODEL_RUNS.contains(Ignore::kind(kind))).collect();
    /// assert_eq!(heard, [RunKind::Llm, RunKind::ChatModel, RunKind::Embedding]);
    /// ```
    pub const NON_MODEL_RUNS: Ignore = Ignore(
        Ignore::CHAIN.0
            | Ignore::TOOL.0
            | Ignore::RETRIEVER.0
            | Ignore::AGENT.0
            | Ignore::PARSER.0
            | Ignore::PROMPT.0
            | Ignore::CUSTOM_RUNS.0,
    );
    /// Retry events, of runs of any kind.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::EventType;
    /// use runtrace_runtime::handlers::{Ignore, RecordingHandler};
    ///
    /// let recorder = Arc::new(RecordingHandler::new().with_ignore(Ignore::RETRIES));
    /// let llm = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// llm.on_retry(1, "429 Too Many Requests")?;
    /// llm.end(&"hello")?;
    /// assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub const RETRIES: Ignore = Ignore(1 << 10);
    /// Custom events (`on_custom_event`), of runs of any kind.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::EventType;
    /// use runtrace_runtime::handlers::{Ignore, RecordingHandler};
    ///
    /// let recorder = Arc::new(RecordingHandler::new().with_ignore(Ignore::CUSTOM_EVENTS));
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "index_docs", &())?;
    /// run.on_custom_event("progress", &50)?;
    /// run.end(&())?;
    /// assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub const CUSTOM_EVENTS: Ignore = Ignore(1 << 11);
    /// Not an event family: the handler hears every event its other flags let through, but
    /// never reads their inputs and outputs ([`RunStart::inputs`], [`RunEnd::outputs`]).
    ///
    /// Honoured by background handlers ([`AsyncCallbackHandler`]), which receive an owned
    /// copy of each event, made on the traced call's thread: when every background handler
    /// that hears an event ignores payloads, the copy carries none, and the traced call
    /// skips serializing inputs and outputs for it. Its payloads are then
    /// [omitted](crate::event::Payload::omitted): [`get`](crate::event::Payload::get) returns
    /// JSON `null`, and [`is_omitted`](crate::event::Payload::is_omitted) tells them from an
    /// output that is `null`. When another background handler that reads payloads hears the
    /// same event, the copy they share carries them, made once for all, as without the flag.
    /// Model data ([`RunStart::model`], [`RunEnd::model`]), tags and metadata are always
    /// copied.
    ///
    /// A sync handler ([`CallbackHandler`]) needs no flag, and the flag changes nothing for
    /// it: it borrows the event, and a payload no handler reads is never made.
    ///
    /// [`RunStart::inputs`]: crate::event::RunStart::inputs
    /// [`RunEnd::outputs`]: crate::event::RunEnd::outputs
    /// [`RunStart::model`]: crate::event::RunStart::model
    /// [`RunEnd::model`]: crate::event::RunEnd::model
    /// [`AsyncCallbackHandler`]: crate::AsyncCallbackHandler
    /// [`CallbackHandler`]: crate::CallbackHandler
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event, EventData, RunKind};
    /// use runtrace_runtime::handlers::{BoxFuture, HandlerResult, Ignore};
    ///
    /// /// Counts the runs that start: it never looks at what they were given or returned.
    /// struct RunCounter(Arc<AtomicUsize>);
    ///
    /// impl AsyncCallbackHandler for RunCounter {
    ///     fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
    ///         Box::pin(async move {
    ///             if let EventData::Start(start) = &event.data {
    ///                 // The traced call did not serialize the inputs for this copy.
    ///                 if start.inputs.is_omitted() {
    ///                     self.0.fetch_add(1, Ordering::Relaxed);
    ///                 }
    ///             }
    ///             Ok(())
    ///         })
    ///     }
    ///
    ///     fn ignore(&self) -> Ignore {
    ///         Ignore::PAYLOADS
    ///     }
    /// }
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let callbacks = CallbackManager::new().with_handler(RunCounter(started.clone()));
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// callbacks.flush_blocking();
    /// assert_eq!(started.load(Ordering::Relaxed), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub const PAYLOADS: Ignore = Ignore(1 << 12);

    /// The flag of one run kind.
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// // From a configuration that names the kinds to leave out.
    /// let ignore = ["chain", "parser"]
    ///     .into_iter()
    ///     .map(|name| name.parse::<RunKind>().map(Ignore::kind))
    ///     .try_fold(Ignore::NONE, |all, kind| kind.map(|kind| all | kind))?;
    /// assert_eq!(ignore, Ignore::CHAIN | Ignore::PARSER);
    /// # Ok::<(), runtrace_runtime::event::UnknownRunKind>(())
    /// ```
    #[must_use]
    pub const fn kind(kind: RunKind) -> Ignore {
        Ignore(1 << kind as u16)
    }

    /// Whether every flag of `other` is set in `self`.
    ///
    /// ```
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// let ignore = Ignore::LLM | Ignore::CHAT_MODEL;
    /// assert!(ignore.contains(Ignore::LLM));
    /// assert!(!ignore.contains(Ignore::LLM | Ignore::TOOL), "every flag of the argument");
    /// assert!(ignore.contains(Ignore::NONE));
    /// ```
    #[must_use]
    pub const fn contains(self, other: Ignore) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flag that silences `data`, an event of a run of `kind`.
    pub(crate) fn for_event(kind: RunKind, data: &EventData<'_>) -> Ignore {
        match data {
            EventData::Retry(_) => Ignore::RETRIES,
            EventData::Custom(_) => Ignore::CUSTOM_EVENTS,
            EventData::AgentAction(_) | EventData::AgentFinish(_) => Ignore::AGENT,
            _ => Ignore::kind(kind),
        }
    }

    /// Whether no flag is set.
    ///
    /// ```
    /// use runtrace_runtime::handlers::Ignore;
    ///
    /// assert!(Ignore::NONE.is_empty());
    /// assert!(!Ignore::PAYLOADS.is_empty(), "a flag, though it silences no event");
    /// ```
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Ignore {
    type Output = Ignore;

    fn bitor(self, rhs: Ignore) -> Ignore {
        Ignore(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ignore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for kind in RunKind::ALL {
            if self.contains(Ignore::kind(kind)) {
                set.entry(&kind);
            }
        }
        if self.contains(Ignore::RETRIES) {
            set.entry(&"retry");
        }
        if self.contains(Ignore::CUSTOM_EVENTS) {
            set.entry(&"custom_event");
        }
        if self.contains(Ignore::PAYLOADS) {
            set.entry(&"payloads");
        }
        set.finish()
    }
}
