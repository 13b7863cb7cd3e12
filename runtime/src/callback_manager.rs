//! [`CallbackManager`]: the handlers, tags and metadata a run is started with.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use crate::dispatch::{dispatch, listens, report_unraisable};
use crate::error::CallbackError;
use crate::event::{CustomEvent, ErrorCause, Event, EventData, Make, Payload, RunError, RunInfo, RunStart};
use crate::handler::{Handler, Ignore, IntoHandler};
use crate::run_guard::RunGuard;
use crate::run_manager::RunManager;
use crate::tracer::scope;
use crate::{ConsoleHandler, Metadata, RunId, RunKind, Tags, record};

/// The callbacks a run starts with: handlers, tags and metadata, each either inheritable
/// (passed on to child runs) or local (for the run it starts only), and the parent run.
///
/// Request callbacks are inheritable: give a manager to a traced call and every run nested
/// in it reports to the same handlers. Constructor callbacks (`#[traced_run(callbacks = ..)]`)
/// are local: the object's own runs see them, its children do not. Cloning is cheap.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, ConsoleHandler, RecordingHandler, RunKind};
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new()
///     .with_handler(recorder.clone())
///     .with_tags(["request-42"])
///     .with_metadata([("user", "ada")]);
///
/// let run = callbacks.start_run(RunKind::Chain, "answer", &serde_json::json!({"question": "hi"}))?;
/// run.on_text("thinking")?;
/// run.end(&"hello")?;
/// assert_eq!(recorder.events().len(), 3);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Default)]
pub struct CallbackManager {
    /// The handlers, tags and metadata, shared behind one pointer: see [`Callbacks`].
    pub(crate) callbacks: Callbacks,
    pub(crate) parent: Option<RunInfo>,
    /// The dotted order of `parent` when it runs in another process (see
    /// [`with_remote_parent`](Self::with_remote_parent)); `None` for a local parent.
    pub(crate) remote_dotted_order: Option<Arc<str>>,
}

/// A manager's handlers, tags and metadata, behind one shared pointer; `None` when it has
/// none at all, so the empty manager holds nothing and cloning it touches no shared memory.
///
/// One pointer, not six, because starting a run copies them into the run and into its
/// children's manager, and each copy of a shared pointer is an atomic increment and
/// decrement (about 14 ns here). When a manager's runs and their children see the same
/// callbacks (no local ones: every child manager, and any manager built with `with_handler`,
/// `with_tags` and `with_metadata` only), the run, its children's manager and the manager
/// itself share one `Callbacks`: a run costs one such copy.
#[derive(Clone, Default)]
pub(crate) struct Callbacks(Option<Arc<CallbackSet>>);

#[derive(Default)]
pub(crate) struct CallbackSet {
    handlers: HandlerList,
    inheritable_handlers: HandlerList,
    tags: Tags,
    inheritable_tags: Tags,
    metadata: Metadata,
    inheritable_metadata: Metadata,
    /// Whether the runs started with this set and their children see the same callbacks
    /// (it has no local ones), so the children's manager can share it.
    inherited_whole: bool,
    /// The inheritable part, made for the first run started with a set that has local
    /// callbacks and shared by the children of every later one.
    children: OnceLock<Callbacks>,
}

static EMPTY: CallbackSet = CallbackSet {
    handlers: HandlerList::EMPTY,
    inheritable_handlers: HandlerList::EMPTY,
    tags: Tags::EMPTY,
    inheritable_tags: Tags::EMPTY,
    metadata: Metadata::EMPTY,
    inheritable_metadata: Metadata::EMPTY,
    inherited_whole: true,
    children: OnceLock::new(),
};

impl Callbacks {
    pub(crate) const NONE: Callbacks = Callbacks(None);

    fn new(set: CallbackSet) -> Callbacks {
        let CallbackSet {
            handlers, inheritable_handlers, tags, inheritable_tags, metadata, inheritable_metadata, ..
        } = set;
        if handlers.is_empty()
            && inheritable_handlers.is_empty()
            && tags.is_empty()
            && inheritable_tags.is_empty()
            && metadata.is_empty()
            && inheritable_metadata.is_empty()
        {
            return Callbacks::NONE;
        }
        let inherited_whole = handlers.as_slice() == inheritable_handlers.as_slice()
            && tags == inheritable_tags
            && metadata == inheritable_metadata;
        Callbacks(Some(Arc::new(CallbackSet {
            handlers,
            inheritable_handlers,
            tags,
            inheritable_tags,
            metadata,
            inheritable_metadata,
            inherited_whole,
            children: OnceLock::new(),
        })))
    }

    #[inline]
    pub(crate) fn get(&self) -> &CallbackSet {
        self.0.as_deref().unwrap_or(&EMPTY)
    }

    /// Whether `self` and `other` are the same set, not merely equal ones.
    #[inline]
    pub(crate) fn same(&self, other: &Callbacks) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The callbacks of the children of runs started with `self`: its inheritable ones,
    /// all inheritable again.
    #[inline]
    fn for_children(&self) -> Callbacks {
        let set = self.get();
        if set.inherited_whole {
            return self.clone();
        }
        set.children
            .get_or_init(|| {
                Callbacks::new(CallbackSet {
                    handlers: set.inheritable_handlers.clone(),
                    inheritable_handlers: set.inheritable_handlers.clone(),
                    tags: set.inheritable_tags.clone(),
                    inheritable_tags: set.inheritable_tags.clone(),
                    metadata: set.inheritable_metadata.clone(),
                    inheritable_metadata: set.inheritable_metadata.clone(),
                    ..CallbackSet::default()
                })
            })
            .clone()
    }

    /// A copy of the set, changed by `edit`.
    fn edited(&self, edit: impl FnOnce(&mut CallbackSet)) -> Callbacks {
        let set = self.get();
        let mut copy = CallbackSet {
            handlers: set.handlers.clone(),
            inheritable_handlers: set.inheritable_handlers.clone(),
            tags: set.tags.clone(),
            inheritable_tags: set.inheritable_tags.clone(),
            metadata: set.metadata.clone(),
            inheritable_metadata: set.inheritable_metadata.clone(),
            ..CallbackSet::default()
        };
        edit(&mut copy);
        Callbacks::new(copy)
    }
}

impl CallbackSet {
    /// The handlers of the runs started with this set.
    #[inline]
    pub(crate) fn handlers(&self) -> &[Handler] {
        self.handlers.as_slice()
    }

    pub(crate) fn tags(&self) -> &Tags {
        &self.tags
    }

    pub(crate) fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.inheritable_handlers.is_empty()
    }
}

/// A list of handlers without duplicates; empty lists hold nothing.
#[derive(Clone, Default)]
pub(crate) struct HandlerList(Option<Arc<[Handler]>>);

impl HandlerList {
    const EMPTY: HandlerList = HandlerList(None);

    #[inline]
    pub(crate) fn as_slice(&self) -> &[Handler] {
        self.0.as_deref().unwrap_or(&[])
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `self` followed by those of `more` it lacks; `self` itself (shared) when it lacks none.
    fn with(&self, more: impl IntoIterator<Item = Handler>) -> HandlerList {
        let mut all = self.as_slice().to_vec();
        for handler in more {
            if !all.contains(&handler) {
                all.push(handler);
            }
        }
        if all.len() == self.as_slice().len() { self.clone() } else { HandlerList(Some(all.into())) }
    }
}

static NONE: CallbackManager = CallbackManager { callbacks: Callbacks::NONE, parent: None, remote_dotted_order: None };

impl CallbackManager {
    /// An empty manager, to add handlers to.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The empty manager: runs started from it cost next to nothing.
    ///
    /// ```
    /// let none = runtrace_runtime::CallbackManager::none();
    /// assert!(none.is_empty());
    /// ```
    #[must_use]
    pub fn none() -> &'static CallbackManager {
        &NONE
    }

    /// Adds an inheritable handler: it hears the runs started from this manager and every
    /// run nested in them. A handler already present (the same `Arc` or [`Handler`]) is
    /// kept once.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, ConsoleHandler};
    /// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new());
    /// assert_eq!(callbacks.inheritable_handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn with_handler<M>(mut self, handler: impl IntoHandler<M>) -> Self {
        let handler = handler.into_handler();
        self.callbacks = self.callbacks.edited(|set| {
            set.handlers = set.handlers.with([handler.clone()]);
            set.inheritable_handlers = set.inheritable_handlers.with([handler]);
        });
        self
    }

    /// Adds a local handler: it hears the runs started from this manager, not their children.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, ConsoleHandler};
    /// let callbacks = CallbackManager::new().with_local_handler(ConsoleHandler::new());
    /// assert_eq!((callbacks.handlers().len(), callbacks.inheritable_handlers().len()), (1, 0));
    /// ```
    #[must_use]
    pub fn with_local_handler<M>(mut self, handler: impl IntoHandler<M>) -> Self {
        let handler = handler.into_handler();
        self.callbacks = self.callbacks.edited(|set| set.handlers = set.handlers.with([handler]));
        self
    }

    /// Adds inheritable tags, passed on to every nested run.
    ///
    /// ```
    /// let callbacks = runtrace_runtime::CallbackManager::new().with_tags(["prod"]);
    /// assert_eq!(&callbacks.inheritable_tags()[..], ["prod"]);
    /// ```
    #[must_use]
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tags: Vec<S> = tags.into_iter().collect();
        self.callbacks = self.callbacks.edited(|set| {
            set.tags = set.tags.merged(&tags);
            set.inheritable_tags = set.inheritable_tags.merged(&tags);
        });
        self
    }

    /// Adds local tags, for the runs started from this manager only.
    ///
    /// ```
    /// let callbacks = runtrace_runtime::CallbackManager::new().with_local_tags(["draft"]);
    /// assert!(callbacks.inheritable_tags().is_empty());
    /// ```
    #[must_use]
    pub fn with_local_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.callbacks = self.callbacks.edited(|set| set.tags = set.tags.merged(tags));
        self
    }

    /// Adds inheritable metadata, passed on to every nested run.
    ///
    /// ```
    /// let callbacks = runtrace_runtime::CallbackManager::new().with_metadata([("user", "ada")]);
    /// assert_eq!(callbacks.inheritable_metadata().len(), 1);
    /// ```
    #[must_use]
    pub fn with_metadata<I, K, V>(mut self, metadata: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        let entries: Vec<(String, Value)> = metadata.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self.callbacks = self.callbacks.edited(|set| {
            set.metadata = set.metadata.merged(entries.iter().cloned());
            set.inheritable_metadata = set.inheritable_metadata.merged(entries);
        });
        self
    }

    /// Adds local metadata, for the runs started from this manager only.
    ///
    /// ```
    /// let callbacks = runtrace_runtime::CallbackManager::new().with_local_metadata([("step", 1)]);
    /// assert!(callbacks.inheritable_metadata().is_empty());
    /// ```
    #[must_use]
    pub fn with_local_metadata<I, K, V>(mut self, metadata: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        self.callbacks = self.callbacks.edited(|set| set.metadata = set.metadata.merged(metadata));
        self
    }

    /// The manager a run starts from, as LangChain configures it: the handlers of
    /// `inheritable`, then every handler of `local` as a local one, then (with `verbose`) the
    /// console handler; tags and metadata likewise, `local`'s all local.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, ConsoleHandler};
    ///
    /// let request = CallbackManager::new().with_handler(ConsoleHandler::new());
    /// let constructor = CallbackManager::new().with_handler(ConsoleHandler::new());
    /// let configured = CallbackManager::configure(&request, &constructor, false);
    /// assert_eq!(configured.handlers().len(), 2);
    /// assert_eq!(configured.inheritable_handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn configure(inheritable: &CallbackManager, local: &CallbackManager, verbose: bool) -> CallbackManager {
        // As LangChain, verbose adds no console handler where one of that type is present.
        let has_console = inheritable.handlers().iter().chain(local.handlers()).any(Handler::is_console);
        let console = (verbose && !has_console).then(console_handler);
        let local = local.callbacks.get();
        CallbackManager {
            callbacks: inheritable.callbacks.edited(|set| {
                set.handlers = set.handlers.with(local.handlers.as_slice().iter().cloned().chain(console));
                set.tags = set.tags.merged(local.tags.iter());
                set.metadata = set.metadata.merged_with(&local.metadata);
            }),
            parent: inheritable.parent.clone(),
            remote_dotted_order: inheritable.remote_dotted_order.clone(),
        }
    }

    /// The handlers of the runs this manager starts, inheritable ones first.
    #[must_use]
    pub fn handlers(&self) -> &[Handler] {
        self.callbacks.get().handlers()
    }

    /// The handlers passed on to child runs.
    #[must_use]
    pub fn inheritable_handlers(&self) -> &[Handler] {
        self.callbacks.get().inheritable_handlers.as_slice()
    }

    /// The tags of the runs this manager starts.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.callbacks.get().tags
    }

    /// The tags passed on to child runs.
    #[must_use]
    pub fn inheritable_tags(&self) -> &Tags {
        &self.callbacks.get().inheritable_tags
    }

    /// The metadata of the runs this manager starts.
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.callbacks.get().metadata
    }

    /// The metadata passed on to child runs.
    #[must_use]
    pub fn inheritable_metadata(&self) -> &Metadata {
        &self.callbacks.get().inheritable_metadata
    }

    /// The run the runs started from this manager are children of.
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.parent.as_ref().map(|parent| parent.run_id)
    }

    /// Whether this manager has no handlers, so its runs are not recorded at all.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        // Checked before anything else by every traced call: the empty manager holds no set
        // at all, so for it this is one load.
        self.callbacks.0.as_deref().is_none_or(CallbackSet::is_empty)
    }

    /// Starts a run of `kind` named `name` with `inputs`, sends its start event and returns
    /// the guard that ends it. `#[traced_run]` does this for you.
    ///
    /// With no handlers this draws no id, reads no clock and serializes nothing.
    ///
    /// # Errors
    ///
    /// A handler that raises failed on the start event; the run got its error event.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert!(run.run_id().is_none());
    /// run.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn start_run<T>(
        &self,
        kind: RunKind,
        name: impl Into<Cow<'static, str>>,
        inputs: &T,
    ) -> Result<RunGuard, CallbackError>
    where
        T: Serialize + Sync + ?Sized,
    {
        if self.is_empty() && !scope::ambient_tracer_possible() {
            return Ok(RunGuard::noop());
        }
        self.start(kind, name.into(), Make::Value(&|| record(inputs)))
    }

    pub(crate) fn start(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
    ) -> Result<RunGuard, CallbackError> {
        // A trace scope or `RUNTRACE_TRACE` adds its tracer to every run started inside it
        // that does not inherit it already, as LangChain's `collect_runs` does; a run whose
        // parent that tracer never saw becomes one of its roots. One relaxed load keeps the
        // question off the path of programs with no scope.
        if scope::watching() {
            if let Some(traced) = scope::with_ambient_handlers(self) {
                return traced.start_recorded(kind, name, inputs);
            }
        }
        if self.is_empty() {
            return Ok(RunGuard::noop());
        }
        self.start_recorded(kind, name, inputs)
    }

    fn start_recorded(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: Make<'_>,
    ) -> Result<RunGuard, CallbackError> {
        let run_id = RunId::new();
        let (parent_run_id, trace_id) = match &self.parent {
            Some(parent) => (Some(parent.run_id), parent.trace_id),
            None => (None, run_id),
        };
        let parent_dotted_order = self.remote_dotted_order.clone();
        let info = RunInfo { run_id, parent_run_id, trace_id, kind, name, parent_dotted_order };
        let children = self.callbacks.for_children();
        // The run keeps its own callbacks only when they differ from its children's.
        let own = (!children.same(&self.callbacks)).then(|| self.callbacks.clone());
        let child = CallbackManager { callbacks: children, parent: Some(info), remote_dotted_order: None };
        let run = RunManager::new(child, own);
        let set = run.callbacks();
        let start =
            RunStart { inputs: Payload::made_by(inputs), tags: set.tags().clone(), metadata: set.metadata().clone() };
        match run.emit(EventData::Start(start)) {
            Ok(()) => Ok(RunGuard::new(run)),
            Err(error) => {
                // Every start gets exactly one end or error, even when the start is refused.
                report_unraisable(run.emit(EventData::Error(RunError::new(error.to_string(), ErrorCause::Stopped))));
                Err(error)
            }
        }
    }

    /// Sends a custom event to this manager's handlers, on behalf of the run it belongs to
    /// (the one whose child manager it is). Inside a traced function, `run.on_custom_event`
    /// does the same for the run itself.
    ///
    /// # Errors
    ///
    /// [`CallbackError::NoParentRun`] when there are handlers but no run to attach the event
    /// to; [`CallbackError::Raised`] when a handler that raises failed.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, ConsoleHandler};
    /// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new());
    /// let outside = callbacks.dispatch_custom_event("progress", &50);
    /// assert!(matches!(outside, Err(CallbackError::NoParentRun { .. })));
    /// ```
    pub fn dispatch_custom_event<T>(&self, name: &str, data: &T) -> Result<(), CallbackError>
    where
        T: Serialize + ?Sized,
    {
        if self.is_empty() {
            return Ok(());
        }
        let Some(parent) = &self.parent else {
            return Err(CallbackError::NoParentRun { name: name.to_owned() });
        };
        // The data is the user's to serialize: only for a handler that wants custom events.
        let handlers = self.handlers();
        if !listens(handlers, Ignore::CUSTOM_EVENT) {
            return Ok(());
        }
        let data = EventData::Custom(CustomEvent { name: name.to_owned(), data: record(data) });
        dispatch(handlers, Ignore::CUSTOM_EVENT, &Event::new(parent, data))
    }

    /// Waits until the background handlers of this manager have handled every event
    /// emitted before the call. See also the process-wide [`flush`](crate::flush).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// runtrace_runtime::CallbackManager::new().flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        for handler in self.handlers().iter().chain(self.inheritable_handlers()) {
            handler.flush().await;
        }
    }

    /// [`flush`](Self::flush) for synchronous code.
    ///
    /// ```
    /// runtrace_runtime::CallbackManager::new().flush_blocking();
    /// ```
    pub fn flush_blocking(&self) {
        for handler in self.handlers().iter().chain(self.inheritable_handlers()) {
            handler.flush_blocking();
        }
    }
}

/// The one console handler `verbose` adds, shared so that it is never added twice.
fn console_handler() -> Handler {
    static CONSOLE: OnceLock<Handler> = OnceLock::new();
    CONSOLE.get_or_init(|| Handler::new(ConsoleHandler::new())).clone()
}

impl std::fmt::Debug for CallbackManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackManager")
            .field("handlers", &self.handlers())
            .field("inheritable_handlers", &self.inheritable_handlers())
            .field("parent_run_id", &self.parent_run_id())
            .field("tags", self.tags())
            .field("inheritable_tags", self.inheritable_tags())
            .field("metadata", self.metadata())
            .field("inheritable_metadata", self.inheritable_metadata())
            .finish()
    }
}
