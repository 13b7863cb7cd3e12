//! [`RunManager`]: one run's handle, for streaming events and starting child runs.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::callback_manager::{CallbackManager, UNHEARD_CHILDREN};
use super::callbacks::{CallbackSet, Callbacks};
use super::model::ModelState;
use super::spare_states;
use crate::dispatch::RegisteredHandler;
use crate::dispatch::inline::{dispatch, listens};
use crate::dispatch::report;
use crate::error::CallbackError;
use crate::event::payload::record;
use crate::event::render;
use crate::event::{
    AgentAction, AgentFinish, CustomEvent, Event, EventData, Metadata, ModelResponse, Retry, RunId, RunInfo, RunKind,
    Tags, Usage,
};
use crate::handler::Ignore;

/// The handle of one run: streams its events (tokens, text, agent steps, custom events) and
/// is the parent of the runs started from it.
///
/// Its methods describe or act on this run. Passing `run` (a `&RunManager`) to a traced
/// function makes the callee its child: that is how traced functions nest (see
/// [`AsParent`](crate::AsParent)); [`children`](Self::children) is the manager of its
/// children, to start child runs by hand. Cloning is cheap; clones are the same run, and a
/// clone is `'static`, to move into a spawned task. A run with no handlers is a no-op whose
/// methods return at once.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
///
/// let llm = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
/// for token in ["Hel", "lo"] {
///     llm.on_llm_new_token(token)?;
/// }
/// let tool = llm.children().start_run(RunKind::Tool, "spell_check", &"Hello")?; // a child of `llm`
/// assert_eq!(tool.parent_run_id(), llm.run_id());
/// tool.end(&true)?;
/// llm.end(&"Hello")?;
/// assert_eq!(recorder.events().len(), 6);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Default)]
pub struct RunManager {
    /// `None` for a run no handler hears.
    inner: Option<Arc<RunInner>>,
}

pub(super) struct RunInner {
    /// The manager of this run's children. Its parent is this run's [`RunInfo`], kept there
    /// only, so that starting a run copies no identity.
    child: CallbackManager,
    /// This run's handlers, tags and metadata when they are not its children's (it has
    /// local ones); `None` when they are.
    own: Option<Callbacks>,
    /// Whether a handler that raises stopped the run: its error, if the function then
    /// fails, is recorded as [`ErrorCause::Stopped`](crate::event::ErrorCause::Stopped).
    stopped: AtomicBool,
    /// What a model run keeps for its end event; `None` for other kinds.
    model: Option<Box<ModelState>>,
}

impl RunInner {
    /// A state that holds nothing: what a kept one is left as (see [`spare_states`]).
    pub(super) fn empty() -> RunInner {
        let child = CallbackManager {
            callbacks: Callbacks::NONE,
            parent: None,
            remote_dotted_order: None,
            within_run: false,
            run_id: None,
        };
        RunInner { child, own: None, stopped: AtomicBool::new(false), model: None }
    }
}

/// Gives the run's state back for the thread's next run when this was its last handle.
impl Drop for RunManager {
    #[inline]
    fn drop(&mut self) {
        if let Some(shared) = self.inner.take() {
            spare_states::give_back(shared);
        }
    }
}

/// A heard run's shared state: see [`RunManager::heard`].
#[derive(Clone, Copy)]
pub(crate) struct HeardRun<'a>(&'a RunInner);

impl<'a> HeardRun<'a> {
    /// The run's handlers, tags and metadata.
    #[inline]
    fn callbacks(self) -> &'a CallbackSet {
        self.0.own.as_ref().unwrap_or(&self.0.child.callbacks).get()
    }

    /// The run's handlers.
    pub(crate) fn handlers(self) -> &'a [RegisteredHandler] {
        self.callbacks().handlers()
    }

    /// The run's id.
    pub(crate) fn run_id(self) -> Option<RunId> {
        self.0.child.parent.as_ref().map(|info| info.run_id)
    }
}

impl RunManager {
    pub(crate) fn new(child: CallbackManager, own: Option<Callbacks>, model: Option<Box<ModelState>>) -> Self {
        let state = RunInner { child, own, stopped: AtomicBool::new(false), model };
        RunManager { inner: Some(spare_states::share(state)) }
    }

    /// The model state of a model run; `None` for other runs and no-op runs.
    pub(crate) fn model(&self) -> Option<&ModelState> {
        self.inner.as_ref().and_then(|inner| inner.model.as_deref())
    }

    /// Whether a handler that raises asked this run to stop.
    pub(crate) fn was_stopped(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.stopped.load(Ordering::Relaxed))
    }

    /// The manager of this run's children: the runs it starts are children of this run,
    /// with its inheritable handlers, tags and metadata. Passing `run` itself to a traced
    /// function does the same.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::ConsoleHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &())?;
    /// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!(tool.parent_run_id(), chain.run_id());
    /// # tool.end(&4)?;
    /// # chain.end(&"4")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn children(&self) -> &CallbackManager {
        self.inner.as_ref().map_or(&UNHEARD_CHILDREN, |inner| &inner.child)
    }

    /// A heard run's shared state, reached through a copy of the pointer to it: code that
    /// hands this on, not `&self`, never takes the address of the manager, so a `RunGuard`
    /// on a traced call's frame can stay in registers (see `__private::entered`).
    #[inline]
    pub(crate) fn heard(&self) -> Option<HeardRun<'_>> {
        self.inner.as_deref().map(HeardRun)
    }

    /// The run's handlers, tags and metadata.
    #[inline]
    pub(crate) fn callbacks(&self) -> &CallbackSet {
        self.heard().map_or_else(|| Callbacks::NONE.get(), HeardRun::callbacks)
    }

    /// A run that no handler hears.
    ///
    /// ```
    /// let run = runtrace_runtime::RunManager::noop();
    /// assert!(run.run_id().is_none());
    /// run.on_llm_new_token("ignored")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub const fn noop() -> Self {
        RunManager { inner: None }
    }

    /// Whether any handler hears this run; `false` for a no-op run.
    ///
    /// Skip work that only handlers would see when none listens:
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let unheard = CallbackManager::none().start_run(RunKind::Retriever, "search", &"rust")?;
    /// assert!(!unheard.is_recording());
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let heard = callbacks.start_run(RunKind::Retriever, "search", &"rust")?;
    /// if heard.is_recording() {
    ///     heard.on_text("3 of 1,204 documents matched")?; // a summary worth building only for a listener
    /// }
    /// assert!(heard.is_recording());
    /// # unheard.end(&())?;
    /// # heard.end(&())?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The run's identity, or `None` for a no-op run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind, RunManager};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// /// A log line naming the run it comes from.
    /// fn log_line(run: &RunManager, message: &str) -> String {
    ///     match run.info() {
    ///         Some(info) => format!("[{} {}] {message}", info.kind, info.name),
    ///         None => message.to_owned(),
    ///     }
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let tool = callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!(log_line(&tool, "adding"), "[tool calculator] adding");
    /// assert_eq!(log_line(&RunManager::noop(), "adding"), "adding");
    /// # tool.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn info(&self) -> Option<&RunInfo> {
        self.inner.as_ref().and_then(|inner| inner.child.parent.as_ref())
    }

    /// The run's id; `None` for a no-op run, which draws none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// let tool = callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// let id = tool.run_id().expect("a handler hears the run");
    /// tool.end(&4)?;
    /// assert!(recorder.events().iter().all(|event| event.run.run_id == id));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn run_id(&self) -> Option<RunId> {
        self.info().map(|info| info.run_id)
    }

    /// The parent run's id; `None` for a root or a no-op run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!((chain.parent_run_id(), tool.parent_run_id()), (None, chain.run_id()));
    /// # tool.end(&4)?;
    /// # chain.end(&"4")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.info().and_then(|info| info.parent_run_id)
    }

    /// The id of the root of this run's tree.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let agent = callbacks.start_run(RunKind::Agent, "math_agent", &"2+2?")?;
    /// let llm = agent.children().start_run(RunKind::Llm, "planner", &"2+2?")?;
    /// let tool = llm.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!(tool.trace_id(), agent.run_id(), "the root's id, however deep");
    /// # tool.end(&4)?;
    /// # llm.end(&"4")?;
    /// # agent.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn trace_id(&self) -> Option<RunId> {
        self.info().map(|info| info.trace_id)
    }

    /// The run's kind, or `None` for a no-op run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind, RunManager};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// /// Reports usage only where it is recorded: on model runs.
    /// fn report(run: &RunManager, usage: Usage) -> Result<(), runtrace_runtime::CallbackError> {
    ///     match run.kind() {
    ///         Some(RunKind::Llm | RunKind::ChatModel | RunKind::Embedding) => run.report_usage(usage),
    ///         _ => Ok(()),
    ///     }
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    /// let chat = callbacks.start_run(RunKind::ChatModel, "chat", &"hi")?;
    /// assert_eq!(chat.kind(), Some(RunKind::ChatModel));
    /// report(&chat, Usage::new(9, 2))?;
    /// chat.end(&"hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> Option<RunKind> {
        self.info().map(|info| info.kind)
    }

    /// The handlers of this run (its inheritable and local ones).
    ///
    /// A local handler hears the run it was given to, not its children:
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new()
    ///     .with_handler(RecordingHandler::new())
    ///     .with_local_handler(RecordingHandler::new());
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!((chain.handlers().len(), tool.handlers().len()), (2, 1));
    /// # tool.end(&4)?;
    /// # chain.end(&"4")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn handlers(&self) -> &[RegisteredHandler] {
        self.callbacks().handlers()
    }

    /// The tags of this run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new()).with_tags(["prod"]);
    /// let chain = callbacks.start_run(RunKind::Chain, "map", &())?;
    /// let step = chain.get_child("step:1").start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!(&step.tags()[..], ["prod", "step:1"]);
    /// # step.end(&4)?;
    /// # chain.end(&())?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn tags(&self) -> &Tags {
        self.callbacks().tags()
    }

    /// The metadata of this run.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new()).with_metadata([("user", "ada")]);
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"hi")?;
    /// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// assert_eq!(tool.metadata().get("user"), Some(&serde_json::json!("ada")), "inherited");
    /// # tool.end(&4)?;
    /// # chain.end(&"4")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        self.callbacks().metadata()
    }

    /// The manager for a child run: this run's inheritable handlers, tags and metadata, this
    /// run as parent, and `tag` (if any) as a local tag of the child only. As in LangChain,
    /// the child's tag is not inherited, so grandchildren do not see it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "map", &[1, 2])?;
    /// let child = run.get_child("step:1");
    /// assert_eq!(&child.tags()[..], ["step:1"]);
    /// assert!(child.inheritable_tags().is_empty());
    /// assert_eq!(child.parent_run_id(), run.run_id());
    ///
    /// let step = child.start_run(RunKind::Tool, "double", &1)?;
    /// assert!(step.children().tags().is_empty(), "the step's own children do not see its tag");
    /// step.end(&2)?;
    /// run.end(&[2, 4])?;
    /// let runs = recorder.runs();
    /// assert_eq!((runs[1].name.as_ref(), runs[1].parent_run_id), ("double", Some(runs[0].run_id)));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn get_child<'t>(&self, tag: impl Into<Option<&'t str>>) -> CallbackManager {
        let child = self.children().clone();
        match tag.into() {
            // A tag nobody can hear is not worth an allocation.
            Some(tag) if self.is_recording() => child.with_local_tags([tag]),
            _ => child,
        }
    }

    /// Sends a streamed token.
    ///
    /// # Errors
    ///
    /// A handler that raises failed: return the error (with `?`) to stop the run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// assert!(matches!(&recorder.events()[1].data, EventData::NewToken(token) if token == "Hel"));
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_llm_new_token(&self, token: &str) -> Result<(), CallbackError> {
        if let Some(model) = self.model() {
            model.token();
        }
        self.emit(EventData::NewToken(Cow::Borrowed(token)))
    }

    /// Reports the tokens this model run billed so far. Each report replaces the previous
    /// one, since providers report running totals (OpenAI's last stream chunk, Anthropic's
    /// `message_delta`): a usage reported twice is counted once. Handlers hear it at once
    /// (a token budget may stop the run here), and the run's end event carries the last.
    ///
    /// Usage belongs to model runs (`llm`, `chat_model`, `embedding`): on another run, or
    /// after the run ended, it is not recorded, and a warning says so once.
    ///
    /// # Errors
    ///
    /// A handler that raises failed: return the error (with `?`) to stop the run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.report_usage(Usage::new(5, 1))?; // after the first chunk
    /// run.report_usage(Usage::new(5, 3))?; // the final chunk: replaces it
    /// run.end(&"Hello")?;
    /// let events = recorder.events();
    /// let EventData::End(end) = &events[3].data else { unreachable!() };
    /// assert_eq!(end.model.as_ref().and_then(|model| model.usage), Some(Usage::new(5, 3)));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn report_usage(&self, usage: Usage) -> Result<(), CallbackError> {
        if !self.is_recording() {
            return Ok(());
        }
        match self.model() {
            Some(model) if model.report_usage(usage) => self.emit(EventData::Usage(usage)),
            Some(_) => {
                self.not_recorded("usage", "after the run ended");
                Ok(())
            }
            None => {
                self.not_recorded("usage", "on a run that is not a model run (llm, chat_model, embedding)");
                Ok(())
            }
        }
    }

    /// Reports this model run's response (model, id, finish reasons, output messages), for
    /// its end event; a second report replaces the first. On another run, or after the run
    /// ended, it is not recorded, and a warning says so once.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::ModelResponse;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::ChatModel, "chat", &"hi")?;
    /// run.report_response(ModelResponse::new().with_model("gpt-4o-mini"));
    /// // A later report, once the stream finished, replaces the first one whole.
    /// run.report_response(ModelResponse::new().with_model("gpt-4o-mini-2024-07-18").with_finish_reason("stop"));
    /// run.end(&"Hello")?;
    ///
    /// let events = recorder.events();
    /// let EventData::End(end) = &events.last().expect("the end").data else { unreachable!() };
    /// let response = end.model.as_ref().and_then(|model| model.response.as_ref()).expect("reported");
    /// assert_eq!(response.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    /// assert_eq!(response.finish_reasons, ["stop"]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn report_response(&self, response: ModelResponse) {
        if !self.is_recording() {
            return;
        }
        match self.model() {
            Some(model) if model.report_response(response) => {}
            Some(_) => self.not_recorded("a response", "after the run ended"),
            None => self.not_recorded("a response", "on a run that is not a model run (llm, chat_model, embedding)"),
        }
    }

    /// Adds metadata to this run while it runs (LangSmith's `add_metadata`, `tracing`'s
    /// `Span::record`), for any kind of run: handlers hear it as a
    /// [`Metadata`](EventData::Metadata) event, and the tracer merges it into the run's
    /// metadata. The value is made only if a handler hears the run.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// let run = CallbackManager::none().start_run(RunKind::Retriever, "search", &"rust")?;
    /// run.add_metadata("hits", &12)?;
    /// run.end(&["doc"])?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn add_metadata<T>(&self, key: &str, value: &T) -> Result<(), CallbackError>
    where
        T: Serialize + ?Sized,
    {
        let Some(kind) = self.kind() else {
            return Ok(());
        };
        if !self.hears(Ignore::kind(kind)) {
            return Ok(());
        }
        self.emit(EventData::Metadata(Metadata::EMPTY.merged([(key, record(value))])))
    }

    /// Warns, once per kind of report and reason, that a report was not recorded.
    #[cold]
    fn not_recorded(&self, what: &'static str, why: &'static str) {
        let run = self.info().map(|info| info.name.to_string()).unwrap_or_default();
        report::warn_once(
            &format!("not recorded: {what} {why}"),
            &format_args!("{what} reported {why} (run `{run}`) is not recorded"),
        );
    }

    /// Sends free text, such as a formatted prompt.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_text("Human: hi\nAI:")?;
    /// assert!(matches!(&recorder.events()[1].data, EventData::Text(text) if text.starts_with("Human:")));
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_text(&self, text: &str) -> Result<(), CallbackError> {
        self.emit(EventData::Text(Cow::Borrowed(text)))
    }

    /// Tells that the run retries: `attempt` counts retries from 1.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::Retry;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_retry(1, "rate limited")?;
    /// let events = recorder.events();
    /// assert!(matches!(&events[1].data, EventData::Retry(retry) if *retry == Retry::new(1, "rate limited")));
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_retry(&self, attempt: u32, reason: impl std::fmt::Display) -> Result<(), CallbackError> {
        if !self.hears(Ignore::RETRIES) {
            return Ok(());
        }
        self.emit(EventData::Retry(Retry { attempt, reason: render::display(&reason) }))
    }

    /// Sends an agent's decision to call a tool.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::AgentAction;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let agent = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "agent", &"2+2?")?;
    /// agent.on_agent_action(AgentAction::new("calculator", serde_json::json!("2+2")))?;
    /// assert!(matches!(&recorder.events()[1].data, EventData::AgentAction(action) if action.tool == "calculator"));
    /// # agent.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_agent_action(&self, action: AgentAction) -> Result<(), CallbackError> {
        self.emit(EventData::AgentAction(action))
    }

    /// Sends an agent's final answer.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::event::AgentFinish;
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let agent = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "agent", &"2+2?")?;
    /// agent.on_agent_finish(AgentFinish::new(serde_json::json!({"answer": 4})))?;
    /// assert!(matches!(&recorder.events()[1].data, EventData::AgentFinish(finish) if finish.output["answer"] == 4));
    /// # agent.end(&4)?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_agent_finish(&self, finish: AgentFinish) -> Result<(), CallbackError> {
        self.emit(EventData::AgentFinish(finish))
    }

    /// Sends a custom event carrying this run's id.
    ///
    /// # Errors
    ///
    /// A handler that raises failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, EventData, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "index", &())?;
    /// run.on_custom_event("progress", &serde_json::json!({"done": 3, "of": 10}))?;
    /// let events = recorder.events();
    /// assert!(matches!(&events[1].data, EventData::Custom(c) if c.name == "progress"));
    /// assert_eq!(Some(events[1].run.run_id), run.run_id());
    /// # run.end(&())?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn on_custom_event<T>(&self, name: &str, data: &T) -> Result<(), CallbackError>
    where
        T: Serialize + ?Sized,
    {
        if !self.hears(Ignore::CUSTOM_EVENTS) {
            return Ok(());
        }
        self.emit(EventData::Custom(CustomEvent { name: name.to_owned(), data: record(data) }))
    }

    /// Whether a handler of this run wants the events `flag` silences, so that making their
    /// data (the user's `Display` or `Serialize` code) is worth it.
    pub(crate) fn hears(&self, flag: Ignore) -> bool {
        self.is_recording() && listens(self.handlers(), flag)
    }

    /// Sends `data` to the run's handlers that want it.
    pub(crate) fn emit(&self, data: EventData<'_>) -> Result<(), CallbackError> {
        let Some(info) = self.info() else {
            return Ok(());
        };
        let flag = Ignore::for_event(info.kind, &data);
        let handlers = self.handlers();
        if !listens(handlers, flag) {
            return Ok(());
        }
        let stopped = self.inner.as_ref().map(|inner| &inner.stopped);
        dispatch(handlers, flag, &Event::new(info, data), stopped)
    }

    /// Waits until the background handlers of this run have handled every event it
    /// emitted so far. See also the process-wide [`flush`](crate::flush).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// runtrace_runtime::RunManager::noop().flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        for handler in self.handlers() {
            handler.flush().await;
        }
    }
}

impl std::fmt::Debug for RunManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.info() {
            Some(info) => f.debug_tuple("RunManager").field(info).finish(),
            None => f.write_str("RunManager(noop)"),
        }
    }
}
