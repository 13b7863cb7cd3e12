//! The handler traits: what a callback handler implements, sync or async.

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::ops::BitOr;
use std::pin::Pin;
use std::sync::Arc;

use crate::background::{Background, Worker};
use crate::event::{AgentAction, AgentFinish, CustomEvent, Event, EventData, Retry, RunEnd, RunError, RunStart};
use crate::{ConsoleHandler, RunKind};

/// What a handler returns when it fails: any error, boxed.
///
/// ```
/// let error: runtrace_runtime::HandlerError = "token budget exceeded".into();
/// assert_eq!(error.to_string(), "token budget exceeded");
/// ```
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every handler method returns.
pub type HandlerResult = Result<(), HandlerError>;

/// The future an [`AsyncCallbackHandler`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A handler called inline, on the thread that emits the event.
///
/// Every method has a default that passes the event on to [`on_event`](Self::on_event), whose
/// own default does nothing: override `on_event` to see everything, or only the methods you
/// need. A handler that returns `Err` or panics is reported (a `tracing` warning naming the
/// handler and the event) and the run goes on, unless [`raise_error`](Self::raise_error) says
/// the failure should stop the run.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use runtrace_runtime::{CallbackHandler, Event, HandlerResult};
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
/// ```
pub trait CallbackHandler: Send + Sync + 'static {
    /// A run started.
    fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
        let _ = start;
        self.on_event(event)
    }

    /// A run ended with an output.
    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        let _ = end;
        self.on_event(event)
    }

    /// A run failed.
    fn on_run_error(&self, event: &Event<'_>, error: &RunError) -> HandlerResult {
        let _ = error;
        self.on_event(event)
    }

    /// A model streamed a token.
    fn on_llm_new_token(&self, event: &Event<'_>, token: &str) -> HandlerResult {
        let _ = token;
        self.on_event(event)
    }

    /// A run emitted free text.
    fn on_text(&self, event: &Event<'_>, text: &str) -> HandlerResult {
        let _ = text;
        self.on_event(event)
    }

    /// A run retries.
    fn on_retry(&self, event: &Event<'_>, retry: &Retry) -> HandlerResult {
        let _ = retry;
        self.on_event(event)
    }

    /// An agent decided to call a tool.
    fn on_agent_action(&self, event: &Event<'_>, action: &AgentAction) -> HandlerResult {
        let _ = action;
        self.on_event(event)
    }

    /// An agent finished.
    fn on_agent_finish(&self, event: &Event<'_>, finish: &AgentFinish) -> HandlerResult {
        let _ = finish;
        self.on_event(event)
    }

    /// A user-defined event.
    fn on_custom_event(&self, event: &Event<'_>, custom: &CustomEvent) -> HandlerResult {
        let _ = custom;
        self.on_event(event)
    }

    /// Every event the methods above do not handle themselves.
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let _ = event;
        Ok(())
    }

    /// The events this handler never wants; read once, when it is added to a manager.
    fn ignore(&self) -> Ignore {
        Ignore::NONE
    }

    /// Whether a failure of this handler stops the run with a
    /// [`CallbackError`](crate::CallbackError) instead of being reported. Read once, when
    /// the handler is added to a manager.
    fn raise_error(&self) -> bool {
        false
    }

    /// The name used in fault reports.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// A handler run in the background, off the traced function's critical path.
///
/// Events reach it in the order they were emitted, one at a time, on runtrace's dispatch
/// thread; [`flush`](crate::flush) waits until every event emitted so far was handled. Its
/// failures are reported and never stop a run: it hears about events after the fact.
///
/// ```
/// use runtrace_runtime::{AsyncCallbackHandler, BoxFuture, Event, HandlerResult};
///
/// struct Exporter;
///
/// impl AsyncCallbackHandler for Exporter {
///     fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
///         Box::pin(async move {
///             // e.g. send `event` to a collector over the network
///             let _ = event;
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait AsyncCallbackHandler: Send + Sync + 'static {
    /// Handles one event.
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult>;

    /// The events this handler never wants; read once, when it is added to a manager.
    fn ignore(&self) -> Ignore {
        Ignore::NONE
    }

    /// The name used in fault reports.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// A set of event families a handler opts out of.
///
/// Run events (start, end, error, tokens, text) are silenced by the flag of their run's
/// kind; agent actions and finishes by [`Ignore::AGENT`]; retries by [`Ignore::RETRY`];
/// custom events by [`Ignore::CUSTOM_EVENT`].
///
/// ```
/// use runtrace_runtime::{Ignore, RunKind};
/// let ignore = Ignore::LLM | Ignore::CHAT_MODEL;
/// assert!(ignore.contains(Ignore::kind(RunKind::Llm)));
/// assert!(!ignore.contains(Ignore::CHAIN));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ignore(u16);

impl Ignore {
    /// Nothing ignored.
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
    pub const AGENT: Ignore = Ignore::kind(RunKind::Agent);
    /// Embedding runs.
    pub const EMBEDDING: Ignore = Ignore::kind(RunKind::Embedding);
    /// Parser runs.
    pub const PARSER: Ignore = Ignore::kind(RunKind::Parser);
    /// Prompt runs.
    pub const PROMPT: Ignore = Ignore::kind(RunKind::Prompt);
    /// Runs of kind `custom`.
    pub const CUSTOM: Ignore = Ignore::kind(RunKind::Custom);
    /// Retry events.
    pub const RETRY: Ignore = Ignore(1 << 10);
    /// Custom events.
    pub const CUSTOM_EVENT: Ignore = Ignore(1 << 11);

    /// The flag of one run kind.
    #[must_use]
    pub const fn kind(kind: RunKind) -> Ignore {
        Ignore(1 << kind as u16)
    }

    /// Whether every flag of `other` is set in `self`.
    #[must_use]
    pub const fn contains(self, other: Ignore) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
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
        if self.contains(Ignore::RETRY) {
            set.entry(&"retry");
        }
        if self.contains(Ignore::CUSTOM_EVENT) {
            set.entry(&"custom_event");
        }
        set.finish()
    }
}

/// A handler as a manager holds it: sync (inline) or async (background), cheap to clone.
///
/// Managers keep one copy of each handler, comparing by identity: the same `Arc`, or clones
/// of the same `Handler`, added twice are kept once. Build one with
/// [`CallbackManager::with_handler`](crate::CallbackManager::with_handler), or directly to
/// share an async handler between managers.
///
/// ```
/// use runtrace_runtime::{CallbackManager, ConsoleHandler, Handler};
///
/// let console = Handler::new(ConsoleHandler::new());
/// let callbacks = CallbackManager::new().with_handler(console.clone()).with_handler(console);
/// assert_eq!(callbacks.handlers().len(), 1);
/// ```
#[derive(Clone)]
pub struct Handler(pub(crate) HandlerRepr);

#[derive(Clone)]
pub(crate) enum HandlerRepr {
    Inline(Arc<Inline>),
    Background(Arc<Worker>),
}

pub(crate) struct Inline {
    pub(crate) handler: Arc<dyn CallbackHandler>,
    pub(crate) ignore: Ignore,
    pub(crate) raise: bool,
    console: bool,
}

impl Handler {
    /// Wraps a sync handler.
    #[must_use]
    pub fn new<H: CallbackHandler>(handler: H) -> Self {
        Handler::from_typed(Arc::new(handler))
    }

    /// Wraps a shared sync handler.
    #[must_use]
    pub fn from_arc(handler: Arc<dyn CallbackHandler>) -> Self {
        Handler::inline(handler, false)
    }

    fn from_typed<H: CallbackHandler>(handler: Arc<H>) -> Self {
        let console = TypeId::of::<H>() == TypeId::of::<ConsoleHandler>();
        Handler::inline(handler, console)
    }

    fn inline(handler: Arc<dyn CallbackHandler>, console: bool) -> Self {
        let ignore = handler.ignore();
        let raise = handler.raise_error();
        Handler(HandlerRepr::Inline(Arc::new(Inline { handler, ignore, raise, console })))
    }

    /// Whether this is a [`ConsoleHandler`], which `verbose` then does not add again.
    pub(crate) fn is_console(&self) -> bool {
        matches!(&self.0, HandlerRepr::Inline(inline) if inline.console)
    }

    /// Starts an async handler in the background with the default queue
    /// (see [`Background`]).
    #[must_use]
    pub fn background<H: AsyncCallbackHandler>(handler: H) -> Self {
        Background::new(handler).into_handler()
    }

    /// The handler's name, as used in fault reports.
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.handler.name(),
            HandlerRepr::Background(worker) => worker.name(),
        }
    }

    /// Whether this handler runs in the background.
    #[must_use]
    pub fn is_background(&self) -> bool {
        matches!(self.0, HandlerRepr::Background(_))
    }

    pub(crate) fn ignores(&self, flag: Ignore) -> bool {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.ignore.contains(flag),
            HandlerRepr::Background(worker) => worker.ignore().contains(flag),
        }
    }

    fn identity(&self) -> *const () {
        match &self.0 {
            HandlerRepr::Inline(inline) => Arc::as_ptr(&inline.handler).cast(),
            HandlerRepr::Background(worker) => Arc::as_ptr(worker).cast(),
        }
    }
}

impl PartialEq for Handler {
    fn eq(&self, other: &Handler) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Handler {}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Handler").field(&self.name()).finish()
    }
}

/// What a manager's `with_handler` accepts: a sync handler (by value or `Arc`), an async
/// handler (by value or wrapped in [`Background`]), or a [`Handler`].
///
/// The `Marker` parameter only keeps the sync and async conversions apart; it is inferred.
pub trait IntoHandler<Marker> {
    /// The handler, ready for a manager.
    fn into_handler(self) -> Handler;
}

/// Marks the conversions of [`IntoHandler`] for sync handlers.
#[derive(Debug)]
pub enum SyncMarker {}

/// Marks the conversions of [`IntoHandler`] for async handlers.
#[derive(Debug)]
pub enum AsyncMarker {}

impl IntoHandler<Handler> for Handler {
    fn into_handler(self) -> Handler {
        self
    }
}

impl<H: CallbackHandler> IntoHandler<SyncMarker> for H {
    fn into_handler(self) -> Handler {
        Handler::new(self)
    }
}

impl<H: CallbackHandler> IntoHandler<SyncMarker> for Arc<H> {
    fn into_handler(self) -> Handler {
        Handler::from_typed(self)
    }
}

impl IntoHandler<SyncMarker> for Arc<dyn CallbackHandler> {
    fn into_handler(self) -> Handler {
        Handler::from_arc(self)
    }
}

impl<H: AsyncCallbackHandler> IntoHandler<AsyncMarker> for H {
    fn into_handler(self) -> Handler {
        Handler::background(self)
    }
}

/// Calls the method of `handler` that `event` arrives at.
pub(crate) fn deliver(handler: &dyn CallbackHandler, event: &Event<'_>) -> HandlerResult {
    match &event.data {
        EventData::Start(start) => handler.on_run_start(event, start),
        EventData::End(end) => handler.on_run_end(event, end),
        EventData::Error(error) => handler.on_run_error(event, error),
        EventData::NewToken(token) => handler.on_llm_new_token(event, token),
        EventData::Text(text) => handler.on_text(event, text),
        EventData::Retry(retry) => handler.on_retry(event, retry),
        EventData::AgentAction(action) => handler.on_agent_action(event, action),
        EventData::AgentFinish(finish) => handler.on_agent_finish(event, finish),
        EventData::Custom(custom) => handler.on_custom_event(event, custom),
    }
}

impl Handler {
    /// Waits until this handler, if it runs in the background, has handled every event
    /// emitted before the call. Returns at once for a sync handler.
    pub async fn flush(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            worker.flush().await;
        }
    }

    /// [`flush`](Self::flush) for synchronous code.
    pub fn flush_blocking(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            worker.flush_blocking();
        }
    }

    /// How many events this background handler dropped under
    /// [`Overflow::DropNewest`](crate::Overflow::DropNewest); always 0 otherwise.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        match &self.0 {
            HandlerRepr::Background(worker) => worker.dropped(),
            HandlerRepr::Inline(_) => 0,
        }
    }
}

// Dispatch catches every handler panic and managers hold no state a panic could leave
// half-written, so code that catches panics may hold handlers across the boundary.
impl std::panic::UnwindSafe for Handler {}
impl std::panic::RefUnwindSafe for Handler {}
