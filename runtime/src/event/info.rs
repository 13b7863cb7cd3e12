//! [`RunInfo`]: the identity of a run, carried by each of its events.

use std::borrow::Cow;
use std::sync::Arc;

use super::id::RunId;
use super::kind::RunKind;

/// The identity of a run, carried by each of its events.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// let recorder = std::sync::Arc::new(runtrace_runtime::handlers::RecordingHandler::new());
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
    /// from trace headers (see [`TraceContext`](crate::propagation::TraceContext)); `None` otherwise.
    /// Tracers compute the dotted orders of local runs themselves, from start times they
    /// saw, so the core never formats one.
    pub parent_dotted_order: Option<Arc<str>>,
    /// The LangSmith project the headers of that remote parent named (their
    /// `langsmith-project`), which the run's trace is recorded in; `None` otherwise.
    pub parent_project: Option<Arc<str>>,
}

impl RunInfo {
    /// The identity of a new root run of `kind` named `name`, with a fresh id: what a
    /// handler's own unit tests build events with (see [`Event::new`](super::Event::new)).
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    /// use runtrace_runtime::event::RunInfo;
    ///
    /// let chain = RunInfo::new(RunKind::Chain, "answer");
    /// let tool = chain.child(RunKind::Tool, "calculator");
    /// assert_eq!((tool.parent_run_id, tool.trace_id), (Some(chain.run_id), chain.run_id));
    /// ```
    #[must_use]
    pub fn new(kind: RunKind, name: impl Into<Cow<'static, str>>) -> RunInfo {
        let run_id = RunId::random();
        RunInfo {
            run_id,
            parent_run_id: None,
            trace_id: run_id,
            kind,
            name: name.into(),
            parent_dotted_order: None,
            parent_project: None,
        }
    }

    /// The identity of a new child run of this one, with a fresh id.
    #[must_use]
    pub fn child(&self, kind: RunKind, name: impl Into<Cow<'static, str>>) -> RunInfo {
        RunInfo { parent_run_id: Some(self.run_id), trace_id: self.trace_id, ..RunInfo::new(kind, name) }
    }
}
