//! The tracer: assembles [`RunTree`]s from events and exports each finished root tree.
//!
//! - [`Tracer`] is the handler; [`Exporter`]s receive its trees: [`JsonlExporter`] (a JSON
//!   Lines file, read back by [`JsonlReader`]) and [`RunCollector`] (memory);
//! - scopes trace without passing a tracer by hand: [`Tracer::in_scope`] / [`Tracer::scope`]
//!   ("trace this block"), [`collect_runs`], and the [`RUNTRACE_TRACE`](Tracer::TRACE_ENV) variable;
//!   [`install_process_handlers`] does the same for any handler, process-wide;
//! - [`TraceContext`](crate::propagation::TraceContext) carries a run's place in its trace
//!   across processes, as headers.

mod assemble;
mod deep;
mod dotted_order;
mod exporter;
mod kept_map;
pub(crate) mod propagation;
mod reader;
mod run_json;
mod run_tree;
pub(crate) mod scope;
mod spare;
mod timestamp;
mod view;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

pub use dotted_order::dotted_order;
pub use exporter::{ExportError, Exporter, JsonlExporter, RunCollector};
pub use reader::{JsonlReader, ReadError};
pub use run_json::RunFields;
pub use run_tree::{RunEvent, RunTree};
pub use scope::{collect_runs, collect_runs_async};
pub use timestamp::rfc3339;
pub use view::TreeView;

use assemble::TracerCore;

use crate::dispatch::{IntoHandler, RegisteredHandler};
use crate::handler::CallbackHandler;
use crate::run::ambient;
pub use crate::run::{install_process_handlers, scoped_callbacks};

/// A handler that assembles the runs it hears into [`RunTree`]s and hands each finished
/// root tree to its [`Exporter`].
///
/// - Exact under any interleaving: trees of concurrent runs, on any number of threads, are
///   kept apart by run id, never by arrival order.
/// - A run whose parent this tracer does not hold (it was added below the root, as a local
///   handler, or the parent's tree was already exported) becomes a root, as in LangChain. A
///   run whose parent is in another process (see
///   [`TraceContext`](crate::propagation::TraceContext)) joins that trace.
/// - A run whose parent is in another process is never placed in a tree held here, even
///   one holding a run of the id its trace headers name: it heads a tree of its own, with
///   its remote `parent_run_id`.
/// - A tree is exported when its root ends, not before: until then, a run that ends, records
///   an event or starts a child after its parent ended still lands in the tree, under its
///   parent.
/// - A tree leaves memory when its root ends; children still running then are exported as
///   they are, without an end, and their later events are for a run it no longer holds.
/// - What one exported tree holds is bounded, in depth ([`with_max_tree_depth`]) and in the
///   finished children of a run whose tree stays open, such as a server's main loop
///   ([`with_max_finished_children`]): the rest of the trace is exported as trees of their
///   own, each headed by a run with its `parent_run_id` and complete `dotted_order`, so the
///   trace still links up in LangSmith or a [`JsonlReader`]. Trees of any depth are safe to
///   export, drop and read on any thread's stack.
/// - Its exporter runs inline, on the thread that ended the root, and the runs it starts
///   there (a traced HTTP client sending the tree) are not traced by this tracer, whatever
///   scope or callbacks they get: tracing them would export again, without end.
/// - An event for a run it does not hold, or for a run that already ended, is reported (a
///   `tracing` warning), never a panic.
///
/// [`with_max_tree_depth`]: Tracer::with_max_tree_depth
/// [`with_max_finished_children`]: Tracer::with_max_finished_children
///
/// Cloning is cheap and clones are the same tracer: adding it twice, as a clone or a
/// reference, keeps it once.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{RunCollector, Tracer};
///
/// let collector = RunCollector::new();
/// let tracer = Tracer::new(collector.clone());
/// let callbacks = CallbackManager::new().with_handler(&tracer);
///
/// let chain = callbacks.start_run(RunKind::Chain, "answer", &"What is 2+2?")?;
/// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
/// tool.end(&4)?;
/// chain.end(&"4")?;
///
/// let tree = &collector.trees()[0];
/// assert_eq!(tree.child_runs[0].name, "calculator");
/// assert_eq!(tree.child_runs[0].parent_run_id, Some(tree.id));
/// assert_eq!(tracer.open_runs(), 0);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone)]
pub struct Tracer {
    core: Arc<TracerCore>,
    handler: RegisteredHandler,
}

impl Tracer {
    /// The environment variable that traces every root run of a program to a JSON Lines
    /// file, with no code change: `RUNTRACE_TRACE=runs.jsonl cargo run`.
    ///
    /// Read once, at the first run the process starts; empty or unset means off. The file
    /// is created if missing and appended to, and opened again at the same path if it is
    /// renamed or deleted (log rotation). If it cannot be opened, a warning says why
    /// and the program runs untraced. The trees' project (`session_name`) is
    /// `LANGSMITH_PROJECT` (or `LANGCHAIN_PROJECT`) when set, as LangSmith's SDK takes it.
    /// Draw the file with `cargo run --example trace_view -- runs.jsonl`.
    ///
    /// ```
    /// assert_eq!(runtrace_runtime::tracer::Tracer::TRACE_ENV, "RUNTRACE_TRACE");
    /// ```
    pub const TRACE_ENV: &'static str = "RUNTRACE_TRACE";

    /// A tracer exporting to `exporter`.
    ///
    /// ```
    /// let tracer = runtrace_runtime::tracer::Tracer::new(runtrace_runtime::tracer::RunCollector::new());
    /// ```
    #[must_use]
    pub fn new(exporter: impl Exporter) -> Tracer {
        let core = Arc::new(TracerCore::new(Box::new(exporter)));
        let handler = (Arc::clone(&core) as Arc<dyn CallbackHandler>).into_handler();
        Tracer { core, handler }
    }

    /// A tracer appending to the JSON Lines file at `path` (see [`JsonlExporter`]).
    ///
    /// # Errors
    ///
    /// [`ExportError::Io`] if the file cannot be opened.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("runtrace-doc-jsonl-{}.jsonl", std::process::id()));
    /// let tracer = runtrace_runtime::tracer::Tracer::jsonl(&path)?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jsonl(path: impl AsRef<Path>) -> Result<Tracer, ExportError> {
        Ok(Tracer::new(JsonlExporter::open(path)?))
    }

    /// Exports at most `levels` levels of a trace as one tree (at least 1; 100 unless set):
    /// the runs below are exported after it, each as the root of a tree of its own, with
    /// their `parent_run_id` and complete `dotted_order`, and so on down.
    ///
    /// Why: a run's dotted order has a segment per level above it, so one tree of a trace
    /// `d` levels deep holds `d²/2` segments (3 GB at 10,000 levels). Cut into trees of at
    /// most `levels` levels, exported one after another, the tracer holds at most
    /// `levels × d` of them at once. `usize::MAX` exports every trace whole.
    ///
    /// Set it before the tracer is in use; clones share it.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone()).with_max_tree_depth(2);
    /// let callbacks = CallbackManager::new().with_handler(&tracer);
    /// let agent = callbacks.start_run(RunKind::Agent, "agent", &"2+2?")?;
    /// let chain = agent.children().start_run(RunKind::Chain, "plan", &())?;
    /// let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    /// tool.end(&4)?;
    /// chain.end(&4)?;
    /// agent.end(&4)?;
    ///
    /// let trees = collector.take();
    /// assert_eq!((trees[0].name.as_str(), trees[0].child_runs[0].child_runs.len()), ("agent", 0));
    /// let calculator = &trees[1];
    /// assert_eq!(calculator.parent_run_id, Some(trees[0].child_runs[0].id));
    /// assert!(calculator.dotted_order.starts_with(&trees[0].child_runs[0].dotted_order));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_max_tree_depth(self, levels: usize) -> Tracer {
        self.core.limits.set_max_depth(levels);
        self
    }

    /// Lets a run hold at most `children` finished children (ended, with every run below
    /// them ended) while its tree is open (10,000 unless set): past that, and past as many
    /// as it holds unfinished ones, they are exported, each as the root of a tree of its
    /// own, with its `parent_run_id` and complete `dotted_order`, and leave memory.
    ///
    /// Why: a tree leaves memory when its root ends, so a root open for the life of a
    /// process, such as a server's main loop, would keep every run below it (some 1.8 KB
    /// each) until the process ends. With this bound it keeps at most `children` finished
    /// ones per open run, plus those still running. A child that starts under a run given
    /// up this way, after it ended, becomes a root, as any run whose parent the tracer no
    /// longer holds.
    ///
    /// Set it before the tracer is in use; clones share it.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone()).with_max_finished_children(2);
    /// let server = CallbackManager::new().with_handler(&tracer).start_run(RunKind::Chain, "serve", &())?;
    /// for request in 0..3 {
    ///     server.children().start_run(RunKind::Chain, "request", &request)?.end(&"200 OK")?;
    /// }
    /// let requests = collector.take();
    /// assert_eq!(requests.len(), 3, "given up once a third finished request was held");
    /// assert!(requests.iter().all(|request| request.parent_run_id == server.run_id()));
    /// server.end(&())?;
    /// assert!(collector.take()[0].child_runs.is_empty());
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_max_finished_children(self, children: usize) -> Tracer {
        self.core.limits.set_max_finished_children(children);
        self
    }

    /// Records its trees in the LangSmith project `project`: their runs' `session_name`,
    /// which an exporter to LangSmith sends them to, and the `langsmith-project` that
    /// [`TraceContext::from_run`](crate::propagation::TraceContext::from_run) passes on. A
    /// trace joined from headers that name a project stays in that one, as LangSmith's SDK
    /// does, so that a trace is never split across projects. An empty name means none.
    ///
    /// Set it before the tracer is in use; clones share it.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone()).with_project("support-bot");
    /// let callbacks = CallbackManager::new().with_handler(&tracer);
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let parent = TraceContext::from_headers([("langsmith-trace", root), ("baggage", "langsmith-project=evals")])?;
    /// CallbackManager::from(&parent).with_handler(&tracer).start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///
    /// let trees = collector.take();
    /// assert_eq!(trees[0].session_name.as_deref(), Some("support-bot"));
    /// assert_eq!(trees[1].session_name.as_deref(), Some("evals"), "the headers' project wins");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_project(self, project: impl Into<String>) -> Tracer {
        let project = project.into();
        *self.core.project.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            (!project.is_empty()).then_some(project);
        self.core.has_project.store(true, std::sync::atomic::Ordering::Release);
        self
    }

    /// This tracer as a manager's handler.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    /// let tracer = Tracer::new(RunCollector::new());
    /// let callbacks = CallbackManager::new().with_handler(tracer.handler()).with_handler(&tracer);
    /// assert_eq!(callbacks.handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn handler(&self) -> RegisteredHandler {
        self.handler.clone()
    }

    pub(crate) fn registered(&self) -> &RegisteredHandler {
        &self.handler
    }

    /// How many of the runs it holds have not ended. Zero once every root has ended: a run
    /// still open then leaves with its root's tree.
    ///
    /// ```
    /// let tracer = runtrace_runtime::tracer::Tracer::new(runtrace_runtime::tracer::RunCollector::new());
    /// assert_eq!(tracer.open_runs(), 0);
    /// ```
    #[must_use]
    pub fn open_runs(&self) -> usize {
        self.core.open_runs()
    }

    /// Runs `body` with this tracer added to every run started inside it on this thread,
    /// whatever callbacks it was given (LangChain's `tracing_v2_enabled`); a run whose parent
    /// started outside the block becomes a root of this tracer's trees.
    ///
    /// The scope is thread-local: a thread spawned inside is not covered; pass it
    /// [`scoped_callbacks`] or a parent run. Scopes nest: a run gets the tracers of all
    /// scopes around it.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone());
    /// tracer.in_scope(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)
    /// })?;
    /// CallbackManager::none().start_run(RunKind::Tool, "outside", &())?.end(&())?;
    /// assert_eq!(collector.trees().len(), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn in_scope<R>(&self, body: impl FnOnce() -> R) -> R {
        ambient::in_scope(self.handler(), body)
    }

    /// [`in_scope`](Self::in_scope) for a future: this tracer is added to every run started
    /// while `future` is polled (a tokio task-local).
    ///
    /// **A `tokio::spawn` inside the future starts a new task, which the scope does not
    /// reach.** Pass the spawned task its callbacks explicitly: the parent run (`run.clone()`
    /// moves into the task; its children there are traced as usual), or
    /// [`scoped_callbacks`] for new roots — or wrap the spawned future in the scope again:
    /// `tokio::spawn(tracer.scope(job))`.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let collector = RunCollector::new();
    /// let tracer = Tracer::new(collector.clone());
    /// tracer
    ///     .scope(async {
    ///         let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///         let run = chain.run().clone(); // the parent run, moved into the task
    ///         tokio::spawn(async move {
    ///             let tool = run.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    ///             tool.end(&4)
    ///         })
    ///         .await??;
    ///         chain.end(&"4")?;
    ///         Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    ///     })
    ///     .await?;
    /// assert_eq!(collector.trees()[0].child_runs[0].name, "calculator");
    /// # Ok(()) }
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        ambient::scope(self.handler(), future)
    }

    /// The tracers among `handlers`, in order.
    fn holding(handlers: &[RegisteredHandler]) -> impl Iterator<Item = Tracer> + '_ {
        handlers.iter().filter_map(|handler| {
            let core = handler.to_any()?.downcast::<TracerCore>().ok()?;
            Some(Tracer { core, handler: handler.clone() })
        })
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("open_runs", &self.open_runs()).finish_non_exhaustive()
    }
}

/// Adds the tracer itself, so every clone is the same handler.
impl IntoHandler<Tracer> for Tracer {
    fn into_handler(self) -> RegisteredHandler {
        self.handler
    }
}

/// Adds the tracer itself, so every clone is the same handler.
impl IntoHandler<Tracer> for &Tracer {
    fn into_handler(self) -> RegisteredHandler {
        self.handler()
    }
}
