//! [`CallbackManager`]: the handlers, tags and metadata a run is started with.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use super::callbacks::{CallbackSet, Callbacks};
use super::supplied_id::SuppliedId;
use crate::dispatch::inline::{dispatch, listens};
use crate::dispatch::{IntoHandler, RegisteredHandler};
use crate::error::CallbackError;
use crate::event::payload::record;
use crate::event::{CustomEvent, Event, EventData, Metadata, RunId, RunInfo, Tags};
use crate::handler::Ignore;
use crate::handlers::ConsoleHandler;

/// The callbacks a run starts with: handlers, tags and metadata, each either inheritable
/// (passed on to child runs) or local (for the run it starts only), and the parent run.
///
/// Request callbacks are inheritable: give a manager to a traced call and every run nested
/// in it reports to the same handlers. Constructor callbacks (`#[traced_run(callbacks = ..)]`)
/// are local: the object's own runs see them, its children do not. Cloning is cheap.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{ConsoleHandler, RecordingHandler};
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
    pub(super) callbacks: Callbacks,
    pub(super) parent: Option<RunInfo>,
    /// The dotted order of `parent` when it runs in another process (see
    /// [`TraceContext`](crate::propagation::TraceContext)); `None` for a local parent.
    pub(super) remote_dotted_order: Option<Arc<str>>,
    /// Whether this is the manager of a run's children, even of a run no handler hears
    /// (whose children's manager has no `parent` to name).
    pub(super) within_run: bool,
    /// The id the next run started from this manager (or a clone) gets, if the caller chose one.
    pub(super) run_id: Option<SuppliedId>,
}

static NONE: CallbackManager = CallbackManager {
    callbacks: Callbacks::NONE,
    parent: None,
    remote_dotted_order: None,
    within_run: false,
    run_id: None,
};

/// The manager of the children of a run no handler hears.
pub(crate) static UNHEARD_CHILDREN: CallbackManager = CallbackManager {
    callbacks: Callbacks::NONE,
    parent: None,
    remote_dotted_order: None,
    within_run: true,
    run_id: None,
};

impl CallbackManager {
    /// An empty manager, to add handlers to.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// assert!(CallbackManager::new().handlers().is_empty());
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// assert_eq!(callbacks.handlers().len(), 1);
    /// ```
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
    /// run nested in them. A handler already present (the same `Arc` or [`RegisteredHandler`]) is
    /// kept once.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::ConsoleHandler;
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
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::ConsoleHandler;
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
    /// `inheritable` (request callbacks, passed on to children), then every handler of
    /// `local` (constructor callbacks) as a local one; tags and metadata likewise, `local`'s
    /// all local. `#[traced_run(callbacks = ..)]` does this for you.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::{ConsoleHandler, RecordingHandler};
    ///
    /// let request = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let constructor = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let configured = CallbackManager::configure(&request, &constructor);
    /// assert_eq!(configured.handlers().len(), 2);
    /// assert_eq!(configured.inheritable_handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn configure(inheritable: &CallbackManager, local: &CallbackManager) -> CallbackManager {
        let local = local.callbacks.get();
        CallbackManager {
            callbacks: inheritable.callbacks.edited(|set| {
                set.handlers = set.handlers.with(local.handlers.as_slice().iter().cloned());
                set.tags = set.tags.merged(local.tags.iter());
                set.metadata = set.metadata.merged_with(&local.metadata);
            }),
            parent: inheritable.parent.clone(),
            remote_dotted_order: inheritable.remote_dotted_order.clone(),
            within_run: inheritable.within_run,
            run_id: inheritable.run_id.clone(),
        }
    }

    /// With `verbose`, adds the console handler as a local handler, unless a
    /// [`ConsoleHandler`] is there already (as LangChain, verbose controls nothing else);
    /// without, returns the manager as it is. What `#[traced_run(verbose = ..)]` does.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let verbose = CallbackManager::new().with_verbose(true);
    /// assert_eq!((verbose.handlers().len(), verbose.inheritable_handlers().len()), (1, 0));
    /// ```
    #[must_use]
    pub fn with_verbose(mut self, verbose: bool) -> CallbackManager {
        if verbose && !self.handlers().iter().any(is_console) {
            self.callbacks = self.callbacks.edited(|set| set.handlers = set.handlers.with([console_handler()]));
        }
        self
    }

    /// The handlers of the runs this manager starts, inheritable and local, each once, in
    /// the order they were added.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::{ConsoleHandler, RecordingHandler};
    ///
    /// let callbacks = CallbackManager::new()
    ///     .with_local_handler(RecordingHandler::new())
    ///     .with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
    /// let names: Vec<&str> = callbacks.handlers().iter().map(|h| h.name()).collect();
    /// assert!(names[0].ends_with("RecordingHandler") && names[1].ends_with("ConsoleHandler"));
    /// ```
    #[must_use]
    pub fn handlers(&self) -> &[RegisteredHandler] {
        self.callbacks.get().handlers()
    }

    /// The handlers passed on to child runs.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new()
    ///     .with_handler(RecordingHandler::new())
    ///     .with_local_handler(RecordingHandler::new());
    /// assert_eq!((callbacks.handlers().len(), callbacks.inheritable_handlers().len()), (2, 1));
    /// ```
    #[must_use]
    pub fn inheritable_handlers(&self) -> &[RegisteredHandler] {
        self.callbacks.get().inheritable_handlers.as_slice()
    }

    /// The tags of the runs this manager starts.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks = CallbackManager::new().with_tags(["prod"]).with_local_tags(["entry"]);
    /// assert_eq!(&callbacks.tags()[..], ["prod", "entry"]);
    /// ```
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.callbacks.get().tags
    }

    /// The tags passed on to child runs.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks = CallbackManager::new().with_tags(["prod"]).with_local_tags(["entry"]);
    /// assert_eq!(&callbacks.inheritable_tags()[..], ["prod"]);
    /// ```
    #[must_use]
    pub fn inheritable_tags(&self) -> &Tags {
        &self.callbacks.get().inheritable_tags
    }

    /// The metadata of the runs this manager starts.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks =
    ///     CallbackManager::new().with_metadata([("user", "ada")]).with_local_metadata([("route", "/answer")]);
    /// assert_eq!(callbacks.metadata().len(), 2);
    /// assert_eq!(callbacks.metadata().get("route"), Some(&serde_json::json!("/answer")));
    /// ```
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.callbacks.get().metadata
    }

    /// The metadata passed on to child runs.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    ///
    /// let callbacks =
    ///     CallbackManager::new().with_metadata([("user", "ada")]).with_local_metadata([("route", "/answer")]);
    /// assert_eq!(callbacks.inheritable_metadata().get("route"), None, "local to this manager's runs");
    /// assert_eq!(callbacks.inheritable_metadata().get("user"), Some(&serde_json::json!("ada")));
    /// ```
    #[must_use]
    pub fn inheritable_metadata(&self) -> &Metadata {
        &self.callbacks.get().inheritable_metadata
    }

    /// The run the runs started from this manager are children of.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// assert_eq!(callbacks.parent_run_id(), None, "its runs are roots");
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"hi")?;
    /// assert_eq!(chain.children().parent_run_id(), chain.run_id());
    /// # chain.end(&"hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.parent.as_ref().map(|parent| parent.run_id)
    }

    /// Whether this manager has no handlers of its own, local or inheritable; tags and
    /// metadata do not count.
    ///
    /// Its runs may still be recorded: a run started from it also goes to the ambient
    /// handlers, the tracer of an enclosing trace scope ([`collect_runs`](crate::tracer::collect_runs),
    /// [`Tracer::in_scope`](crate::tracer::Tracer::in_scope),
    /// [`Tracer::scope`](crate::tracer::Tracer::scope)), the tracer
    /// [`RUNTRACE_TRACE`](crate::tracer::Tracer::TRACE_ENV) names, and the handlers of
    /// [`install_process_handlers`](crate::tracer::install_process_handlers). Only where none
    /// of these applies is a run of an empty manager not recorded at all.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// assert!(CallbackManager::none().is_empty());
    /// assert!(CallbackManager::new().with_tags(["prod"]).is_empty(), "tags alone hear nothing");
    /// assert!(!CallbackManager::new().with_handler(RecordingHandler::new()).is_empty());
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), CallbackError> {
    ///     CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)
    /// });
    /// assert_eq!(trees[0].name, "calculator", "the scope's tracer records it all the same");
    /// ```
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        // Checked before anything else by every traced call: the empty manager holds no set
        // at all, so for it this is one load.
        self.callbacks.0.as_deref().is_none_or(CallbackSet::is_empty)
    }

    /// Sends a custom event to this manager's handlers, on behalf of the run it belongs to
    /// (the one whose children's manager it is, see [`RunManager::children`](crate::RunManager::children)). Inside a
    /// traced function, `run.on_custom_event` does the same for the run itself.
    ///
    /// # Errors
    ///
    /// [`CallbackError::NoParentRun`] when this manager belongs to no run (it was built with
    /// [`new`](Self::new), or is [`none`](Self::none)), whether or not any handler listens;
    /// [`CallbackError::Raised`] when a handler that raises failed.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    ///
    /// let outside = CallbackManager::none().dispatch_custom_event("progress", &50);
    /// assert!(matches!(outside, Err(CallbackError::NoParentRun { .. })));
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Chain, "index", &())?;
    /// run.children().dispatch_custom_event("progress", &50)?; // inside a run: fine, heard or not
    /// # run.end(&())?;
    /// # Ok::<(), CallbackError>(())
    /// ```
    pub fn dispatch_custom_event<T>(&self, name: &str, data: &T) -> Result<(), CallbackError>
    where
        T: Serialize + ?Sized,
    {
        if !self.within_run {
            return Err(CallbackError::NoParentRun { name: name.to_owned() });
        }
        let Some(parent) = &self.parent else {
            return Ok(());
        };
        // The data is the user's to serialize: only for a handler that wants custom events.
        let handlers = self.handlers();
        if !listens(handlers, Ignore::CUSTOM_EVENTS) {
            return Ok(());
        }
        let data = EventData::Custom(CustomEvent { name: name.to_owned(), data: record(data) });
        dispatch(handlers, Ignore::CUSTOM_EVENTS, &Event::new(parent, data), None)
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
fn console_handler() -> RegisteredHandler {
    static CONSOLE: OnceLock<RegisteredHandler> = OnceLock::new();
    CONSOLE.get_or_init(|| RegisteredHandler::new(ConsoleHandler::new())).clone()
}

/// Whether `handler` is a [`ConsoleHandler`], which `verbose` then does not add again.
fn is_console(handler: &RegisteredHandler) -> bool {
    handler.as_any().is_some_and(|handler| handler.is::<ConsoleHandler>())
}

/// Caller-chosen run ids (LangChain's `run_id` in a call's config).
impl CallbackManager {
    /// Gives `run_id` to the next run started from this manager: the first run started
    /// directly from it or from one of its clones (they share the choice) that a handler
    /// hears. That run is typically the root of a request's tree, so a server can hand the id
    /// to its client (for feedback, say) before the run ends. Runs started after it, and
    /// every run nested in it (their manager is the run's, not this one), draw fresh ids.
    ///
    /// # Errors
    ///
    /// The run's start fails with [`CallbackError::RunIdInUse`], before any handler hears
    /// of it, when a handler of the manager (a [`Tracer`](crate::tracer::Tracer)) still holds
    /// a run with that id: two runs with one id would be merged into one tree. A traced
    /// function returning `Result<_, E>` with `E: From<CallbackError>` returns that error
    /// (any other traced function runs untraced, with a warning); the id is spent either way.
    /// The check is made as the run starts: two managers given the same id and starting
    /// their runs at the same instant on two threads are not told apart, so give each call
    /// its own id (`RunId::random()`, or one from your client that you know is unique).
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunId, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone());
    /// let id = RunId::random();
    /// let callbacks = CallbackManager::new().with_handler(&tracer).with_run_id(id);
    ///
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"What is 2+2?")?;
    /// assert_eq!(chain.run_id(), Some(id));
    ///
    /// // The same id again, while the first run is open: refused, and the tree stays whole.
    /// let again = CallbackManager::new().with_handler(&tracer).with_run_id(id);
    /// let refused = again.start_run(RunKind::Chain, "answer", &"again");
    /// assert!(matches!(refused, Err(CallbackError::RunIdInUse { run_id, .. }) if run_id == id));
    ///
    /// chain.end(&4)?;
    /// assert_eq!(collector.trees()[0].id, id);
    /// # Ok::<(), CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_run_id(mut self, run_id: RunId) -> Self {
        self.run_id = Some(SuppliedId::new(run_id));
        self
    }
}

impl CallbackManager {
    /// A manager whose runs are children of `parent`, a run of another process whose dotted
    /// order is `dotted_order`: see [`TraceContext`](crate::propagation::TraceContext).
    pub(crate) fn with_remote_parent(mut self, parent: RunInfo, dotted_order: Arc<str>) -> CallbackManager {
        self.parent = Some(parent);
        self.remote_dotted_order = Some(dotted_order);
        self.within_run = true;
        self
    }
}

impl std::fmt::Debug for CallbackManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackManager")
            .field("handlers", &self.handlers())
            .field("inheritable_handlers", &self.inheritable_handlers())
            .field("parent_run_id", &self.parent_run_id())
            .field("run_id", &self.run_id.as_ref().map(SuppliedId::run_id))
            .field("tags", self.tags())
            .field("inheritable_tags", self.inheritable_tags())
            .field("metadata", self.metadata())
            .field("inheritable_metadata", self.inheritable_metadata())
            .finish()
    }
}
