//! [`CallbackManager`]: the handlers, tags and metadata a run is started with.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use crate::dispatch::{dispatch, listens, report_unraisable};
use crate::error::CallbackError;
use crate::event::{CustomEvent, ErrorCause, Event, EventData, Payload, RunError, RunInfo, RunStart};
use crate::handler::{Handler, IntoHandler};
use crate::run_guard::RunGuard;
use crate::run_manager::RunManager;
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
    pub(crate) handlers: HandlerList,
    pub(crate) inheritable_handlers: HandlerList,
    pub(crate) parent: Option<RunInfo>,
    pub(crate) tags: Tags,
    pub(crate) inheritable_tags: Tags,
    pub(crate) metadata: Metadata,
    pub(crate) inheritable_metadata: Metadata,
}

/// A list of handlers without duplicates; empty lists hold nothing, so cloning an empty
/// manager never touches shared memory.
#[derive(Clone, Default)]
pub(crate) struct HandlerList(Option<Arc<[Handler]>>);

impl HandlerList {
    const EMPTY: HandlerList = HandlerList(None);

    pub(crate) fn as_slice(&self) -> &[Handler] {
        self.0.as_deref().unwrap_or(&[])
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn with(&self, more: impl IntoIterator<Item = Handler>) -> HandlerList {
        let mut all = self.as_slice().to_vec();
        for handler in more {
            if !all.contains(&handler) {
                all.push(handler);
            }
        }
        if all.is_empty() { HandlerList(None) } else { HandlerList(Some(all.into())) }
    }
}

static NONE: CallbackManager = CallbackManager {
    handlers: HandlerList::EMPTY,
    inheritable_handlers: HandlerList::EMPTY,
    parent: None,
    tags: Tags::EMPTY,
    inheritable_tags: Tags::EMPTY,
    metadata: Metadata::EMPTY,
    inheritable_metadata: Metadata::EMPTY,
};

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
        self.handlers = self.handlers.with([handler.clone()]);
        self.inheritable_handlers = self.inheritable_handlers.with([handler]);
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
        self.handlers = self.handlers.with([handler.into_handler()]);
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
        self.tags = self.tags.merged(&tags);
        self.inheritable_tags = self.inheritable_tags.merged(&tags);
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
        self.tags = self.tags.merged(tags);
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
        self.metadata = self.metadata.merged(entries.iter().cloned());
        self.inheritable_metadata = self.inheritable_metadata.merged(entries);
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
        self.metadata = self.metadata.merged(metadata);
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
        let console = verbose.then(console_handler);
        CallbackManager {
            handlers: inheritable.handlers.with(local.handlers.as_slice().iter().cloned().chain(console)),
            inheritable_handlers: inheritable.inheritable_handlers.clone(),
            parent: inheritable.parent.clone(),
            tags: inheritable.tags.merged(local.tags.iter()),
            inheritable_tags: inheritable.inheritable_tags.clone(),
            metadata: inheritable.metadata.merged_with(&local.metadata),
            inheritable_metadata: inheritable.inheritable_metadata.clone(),
        }
    }

    /// The handlers of the runs this manager starts, inheritable ones first.
    #[must_use]
    pub fn handlers(&self) -> &[Handler] {
        self.handlers.as_slice()
    }

    /// The handlers passed on to child runs.
    #[must_use]
    pub fn inheritable_handlers(&self) -> &[Handler] {
        self.inheritable_handlers.as_slice()
    }

    /// The tags of the runs this manager starts.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// The tags passed on to child runs.
    #[must_use]
    pub fn inheritable_tags(&self) -> &Tags {
        &self.inheritable_tags
    }

    /// The metadata of the runs this manager starts.
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata passed on to child runs.
    #[must_use]
    pub fn inheritable_metadata(&self) -> &Metadata {
        &self.inheritable_metadata
    }

    /// The run the runs started from this manager are children of.
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.parent.as_ref().map(|parent| parent.run_id)
    }

    /// Whether this manager has no handlers, so its runs are not recorded at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.inheritable_handlers.is_empty()
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
        if self.is_empty() {
            return Ok(RunGuard::noop());
        }
        self.start(kind, name.into(), &|| record(inputs))
    }

    pub(crate) fn start(
        &self,
        kind: RunKind,
        name: Cow<'static, str>,
        inputs: &(dyn Fn() -> Value + Sync),
    ) -> Result<RunGuard, CallbackError> {
        if self.is_empty() {
            return Ok(RunGuard::noop());
        }
        let run_id = RunId::new();
        let (parent_run_id, trace_id) = match &self.parent {
            Some(parent) => (Some(parent.run_id), parent.trace_id),
            None => (None, run_id),
        };
        let info = RunInfo { run_id, parent_run_id, trace_id, kind, name };
        let child = CallbackManager {
            handlers: self.inheritable_handlers.clone(),
            inheritable_handlers: self.inheritable_handlers.clone(),
            parent: Some(info.clone()),
            tags: self.inheritable_tags.clone(),
            inheritable_tags: self.inheritable_tags.clone(),
            metadata: self.inheritable_metadata.clone(),
            inheritable_metadata: self.inheritable_metadata.clone(),
        };
        let run = RunManager::new(info, self.handlers.clone(), child, self.tags.clone(), self.metadata.clone());
        let start =
            RunStart { inputs: Payload::deferred(inputs), tags: self.tags.clone(), metadata: self.metadata.clone() };
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
        let data = EventData::Custom(CustomEvent { name: name.to_owned(), data: record(data) });
        let flag = Event::ignore_flag(parent.kind, &data);
        let handlers = self.handlers();
        if !listens(handlers, flag) {
            return Ok(());
        }
        dispatch(handlers, flag, &Event { run: Cow::Borrowed(parent), time: std::time::SystemTime::now(), data })
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
            .field("tags", &self.tags)
            .field("inheritable_tags", &self.inheritable_tags)
            .field("metadata", &self.metadata)
            .field("inheritable_metadata", &self.inheritable_metadata)
            .finish()
    }
}
