//! Tracing without passing a tracer by hand: "trace this block" scopes ([`Tracer::in_scope`],
//! [`Tracer::scope`]), [`collect_runs`], and the `RUNTRACE_TRACE` environment variable.
//!
//! Each adds its tracer to every run started inside it that does not inherit that tracer
//! already, as LangChain's `tracing_v2_enabled` and `collect_runs` do when they configure
//! each run: a run with no parent starts a tree, and so does a run whose parent started
//! outside the scope (the tracer never saw that parent); their descendants inherit it.
//!
//! The cost when nothing of this is in use is one relaxed atomic load per run start:
//! [`WATCH`] counts the reasons to look (live scopes, an env tracer, or the env variable not
//! read yet), and only when it is non-zero does a start consult the task-local and
//! thread-local scope stacks.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::Tracer;
use super::exporter::{JsonlExporter, RunCollector};
use super::run_tree::RunTree;
use crate::CallbackManager;
use crate::handler::Handler;

/// The environment variable that traces every root run of a program to a JSON Lines file,
/// with no code change: `RUNTRACE_TRACE=runs.jsonl cargo run`.
///
/// Read once, at the first run the process starts; empty or unset means off. The file is
/// created if missing and appended to. If it cannot be opened, a warning says why and the
/// program runs untraced. Draw the file with `cargo run --example trace_view -- runs.jsonl`.
///
/// ```
/// assert_eq!(runtrace_runtime::TRACE_ENV, "RUNTRACE_TRACE");
/// ```
pub const TRACE_ENV: &str = "RUNTRACE_TRACE";

/// Reasons a run start must look for ambient tracers: one per live scope, plus one
/// while [`TRACE_ENV`] is unread or names a file. Zero: nothing to add, nothing to look up.
static WATCH: AtomicUsize = AtomicUsize::new(1);

/// Whether some scope or the environment may add a tracer to a run. Relaxed is enough:
/// a scope is entered on the thread (or by the task) whose runs it covers, so that thread
/// sees its own increment, and work moved to other threads is published with it.
#[inline(always)]
pub(crate) fn watching() -> bool {
    WATCH.load(Ordering::Relaxed) != 0
}

/// `manager` with the tracers of the enclosing scopes and the environment added as
/// inheritable handlers, or `None` when there are none here.
#[cold]
#[inline(never)]
pub(crate) fn with_ambient_handlers(manager: &CallbackManager) -> Option<CallbackManager> {
    // The first call reads the environment, which may end the watch: a program with no
    // scope and no `RUNTRACE_TRACE` then never touches the scope stacks at all.
    env_tracer();
    if !watching() || !ambient_here() {
        return None;
    }
    let inherited = manager.inheritable_handlers();
    let missing: Vec<Handler> = ambient_handlers().into_iter().filter(|handler| !inherited.contains(handler)).collect();
    if missing.is_empty() {
        return None;
    }
    Some(missing.into_iter().fold(manager.clone(), CallbackManager::with_handler))
}

/// The environment's tracer, then the scopes' from outermost to innermost.
fn ambient_handlers() -> Vec<Handler> {
    let mut handlers: Vec<Handler> = Vec::new();
    let mut frame = innermost();
    while let Some(current) = frame {
        handlers.push(current.handler.clone());
        frame = current.outer.clone();
    }
    handlers.extend(env_tracer().map(Tracer::handler));
    handlers.reverse();
    handlers
}

fn env_tracer() -> Option<&'static Tracer> {
    static ENV: OnceLock<Option<Tracer>> = OnceLock::new();
    ENV.get_or_init(|| {
        let tracer = std::env::var_os(TRACE_ENV).filter(|path| !path.is_empty()).and_then(|path| {
            JsonlExporter::open(&path)
                .inspect_err(|error| {
                    tracing::warn!(target: "runtrace", path = %path.to_string_lossy(), %error,
                        "{TRACE_ENV} names a file that cannot be opened; runs are not traced");
                })
                .ok()
        });
        if tracer.is_none() {
            WATCH.fetch_sub(1, Ordering::Relaxed);
        }
        tracer.map(Tracer::new)
    })
    .as_ref()
}

/// One scope: its tracer's handler and the scopes around it.
struct Frame {
    handler: Handler,
    outer: Option<Arc<Frame>>,
    depth: usize,
}

impl Frame {
    fn push(handler: Handler) -> Arc<Frame> {
        let outer = innermost();
        let depth = outer.as_ref().map_or(1, |outer| outer.depth + 1);
        Arc::new(Frame { handler, outer, depth })
    }
}

tokio::task_local! {
    static TASK_FRAMES: Option<Arc<Frame>>;
}

thread_local! {
    static THREAD_FRAMES: RefCell<Option<Arc<Frame>>> = const { RefCell::new(None) };
}

/// The innermost scope around the caller. A sync scope entered inside an async one (or the
/// reverse, a future polled by `block_on` inside a sync scope) captured the other as its
/// outer frames, so the deeper stack is the whole story.
/// Whether a run started here with no handlers of its own may still get an ambient tracer:
/// one relaxed load when no scope is live anywhere, a look at this thread's and task's
/// scopes when one is.
#[inline(always)]
pub(crate) fn ambient_tracer_possible() -> bool {
    watching() && ambient_here()
}

/// Whether runs started here, on this thread or in this task, get an ambient tracer. The
/// watch count is process-wide, so a scope on another thread raises it for everyone; this
/// check keeps those threads on the no-handler path, without allocating.
pub(crate) fn ambient_here() -> bool {
    env_tracer().is_some()
        || TASK_FRAMES.try_with(Option::is_some).unwrap_or(false)
        || THREAD_FRAMES.try_with(|frames| frames.borrow().is_some()).unwrap_or(false)
}

fn innermost() -> Option<Arc<Frame>> {
    let task = TASK_FRAMES.try_with(Clone::clone).ok().flatten();
    let thread = THREAD_FRAMES.try_with(|frames| frames.borrow().clone()).ok().flatten();
    match (task, thread) {
        (Some(task), Some(thread)) => Some(if thread.depth > task.depth { thread } else { task }),
        (task, thread) => task.or(thread),
    }
}

/// Keeps [`WATCH`] raised while a scope is live.
struct Live;

impl Live {
    fn enter() -> Live {
        WATCH.fetch_add(1, Ordering::Relaxed);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        WATCH.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Restores the thread's scope stack when a sync scope ends, even by a panic.
struct ThreadScope {
    previous: Option<Arc<Frame>>,
    _live: Live,
}

impl Drop for ThreadScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = THREAD_FRAMES.try_with(|frames| *frames.borrow_mut() = previous);
    }
}

pub(crate) fn in_scope<R>(handler: Handler, body: impl FnOnce() -> R) -> R {
    let live = Live::enter();
    let frame = Frame::push(handler);
    let previous = THREAD_FRAMES.with(|frames| frames.replace(Some(frame)));
    let _scope = ThreadScope { previous, _live: live };
    body()
}

pub(crate) async fn scope<F: Future>(handler: Handler, future: F) -> F::Output {
    // The outer scopes are those around the first poll: where the block runs, not where the
    // future was made.
    let _live = Live::enter();
    let frame = Frame::push(handler);
    TASK_FRAMES.scope(Some(frame), future).await
}

/// Runs `body` and returns what it returned with the trees it produced: every run started
/// inside it is traced, whatever callbacks it was given, and a run whose parent started
/// outside the block is the root of a tree. LangChain's `collect_runs`.
///
/// Only trees whose roots end before `body` returns are collected. The scope is
/// thread-local: a thread spawned inside is not covered. For async code, use
/// [`collect_runs_async`].
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind, collect_runs};
///
/// let (answer, trees) = collect_runs(|| -> Result<&str, runtrace_runtime::CallbackError> {
///     let llm = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &serde_json::json!({"prompt": "hi"}))?;
///     llm.end(&"hello")?;
///     Ok("hello")
/// });
/// assert_eq!(answer?, "hello");
/// assert_eq!(trees.len(), 1);
/// assert_eq!(trees[0].inputs["prompt"], "hi");
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
pub fn collect_runs<R>(body: impl FnOnce() -> R) -> (R, Vec<RunTree>) {
    let collector = RunCollector::new();
    let output = Tracer::new(collector.clone()).in_scope(body);
    (output, collector.take())
}

/// [`collect_runs`] for a future: the runs started while it is polled are collected. Runs
/// started by tasks it spawns are not (see [`Tracer::scope`]).
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind, collect_runs_async};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), runtrace_runtime::CallbackError> {
/// let ((), trees) = collect_runs_async(async {
///     let tool = CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2").unwrap();
///     tokio::task::yield_now().await;
///     tool.end(&4).unwrap();
/// })
/// .await;
/// assert_eq!(trees[0].name, "calculator");
/// # Ok(()) }
/// ```
pub async fn collect_runs_async<F: Future>(future: F) -> (F::Output, Vec<RunTree>) {
    let collector = RunCollector::new();
    let output = Tracer::new(collector.clone()).scope(future).await;
    (output, collector.take())
}

/// The callbacks of the trace scopes around the caller (and of [`TRACE_ENV`]), as a manager
/// to move into a task or thread that the scopes do not reach, and pass explicitly there.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunCollector, RunKind, Tracer, scoped_callbacks};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let collector = RunCollector::new();
/// Tracer::new(collector.clone())
///     .scope(async {
///         let callbacks = scoped_callbacks(); // the block's tracer, to hand to the task
///         tokio::spawn(async move {
///             let run = callbacks.start_run(RunKind::Tool, "background_job", &()).unwrap();
///             run.end(&()).unwrap();
///         })
///         .await
///     })
///     .await?;
/// assert_eq!(collector.trees()[0].name, "background_job");
/// # Ok(()) }
/// ```
#[must_use]
pub fn scoped_callbacks() -> CallbackManager {
    if !watching() {
        return CallbackManager::new();
    }
    ambient_handlers().into_iter().fold(CallbackManager::new(), CallbackManager::with_handler)
}
