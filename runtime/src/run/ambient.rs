//! Ambient handlers: the trace scopes around the code that starts a run ("trace this block",
//! `collect_runs`, the `RUNTRACE_TRACE` variable), each adding its handler to every run
//! started inside it that does not inherit that handler already, as LangChain's
//! `tracing_v2_enabled` and `collect_runs` do when they configure each run: a run with no
//! parent starts a tree, and so does a run whose parent started outside the scope (the
//! tracer never saw that parent); their descendants inherit it.
//!
//! The cost when nothing of this is in use is one relaxed atomic load per run start:
//! [`WATCH`] counts the reasons to look (live scopes, an env tracer, or the env variable not
//! read yet), and only when it is non-zero does a start consult the task-local and
//! thread-local scope stacks.
//!
//! The one edge from the run layer up to the tracer is here: [`env_handler`] asks
//! `tracer::scope` for the tracer `RUNTRACE_TRACE` names, read once. And one hook for the
//! tracer: [`leaving_out`] keeps a tracer out of the runs its own exporter starts.
//!
//! Process handlers ([`install_process_handlers`]) are the same thing for handlers that live
//! in other crates (exporters to OpenTelemetry or LangSmith configured from the
//! environment): installed once each, they join every run as the `RUNTRACE_TRACE` tracer does.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::callback_manager::CallbackManager;
use crate::dispatch::{RegisteredHandler, report};

/// Reasons a run start must look for ambient tracers: one per live scope, plus one
/// while `RUNTRACE_TRACE` is unread or names a file. Zero: nothing to add, nothing to look up.
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
    env_handler();
    if !watching() || !ambient_here() {
        return None;
    }
    let inherited = manager.inheritable_handlers();
    let missing: Vec<RegisteredHandler> =
        ambient_handlers().into_iter().filter(|handler| !inherited.contains(handler)).collect();
    if missing.is_empty() {
        return None;
    }
    Some(missing.into_iter().fold(manager.clone(), CallbackManager::with_handler))
}

/// The process handlers in their order, the environment's tracer, then the scopes' from
/// outermost to innermost, but for those [left out](leaving_out) here.
fn ambient_handlers() -> Vec<RegisteredHandler> {
    let mut handlers: Vec<RegisteredHandler> = Vec::new();
    let mut frame = innermost();
    while let Some(current) = frame {
        handlers.push(current.handler.clone());
        frame = current.outer.clone();
    }
    handlers.extend(env_handler().cloned());
    handlers.extend(process_handlers().rev().cloned());
    handlers.reverse();
    if LEFT_OUT_HERE.try_with(Cell::get).unwrap_or(0) > 0 {
        handlers.retain(|handler| handler.as_any().is_none_or(|handler| !is_left_out(address_of(handler))));
    }
    handlers
}

/// How many times handlers can be installed process-wide: one per exporter configured from
/// the environment (OpenTelemetry, LangSmith, ...), with room to spare.
const PROCESS_INSTALLS: usize = 8;

/// The handlers of each install, in order. Slots, each set once, rather than one growing
/// list: a run start reads them with no lock, and nothing installed is ever freed.
static PROCESS_HANDLERS: [OnceLock<Box<[RegisteredHandler]>>; PROCESS_INSTALLS] =
    [const { OnceLock::new() }; PROCESS_INSTALLS];

/// Serializes installs, so that each takes the next free slot and skips what is installed.
static INSTALLING: Mutex<()> = Mutex::new(());

fn process_handlers() -> impl DoubleEndedIterator<Item = &'static RegisteredHandler> {
    PROCESS_HANDLERS.iter().filter_map(OnceLock::get).flatten()
}

/// Adds `handlers` to every run the process starts from now on, as inheritable handlers of
/// each run that does not inherit them already, the way `RUNTRACE_TRACE` adds its tracer:
/// for exporters configured from the environment, which no call site passes by hand.
/// Several exporters may each install theirs (up to 8 times a process); a handler installed
/// before is not added again. Gives `false`, and drops `handlers`, if none was added.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{IntoHandler, RecordingHandler};
/// use runtrace_runtime::tracer::install_process_handlers;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// assert!(install_process_handlers([recorder.clone().into_handler()]));
/// assert!(!install_process_handlers([recorder.clone().into_handler()]), "installed already");
/// CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
/// assert_eq!(recorder.runs()[0].name, "calculator");
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[must_use = "`false` says the handlers were not installed"]
pub fn install_process_handlers(handlers: impl IntoIterator<Item = RegisteredHandler>) -> bool {
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let mut new: Vec<RegisteredHandler> = Vec::new();
    for handler in handlers {
        if !new.contains(&handler) && !process_handlers().any(|installed| *installed == handler) {
            new.push(handler);
        }
    }
    if new.is_empty() {
        return false;
    }
    let Some(slot) = PROCESS_HANDLERS.iter().find(|slot| slot.get().is_none()) else {
        report::warn_once(
            "process handlers: no slot left",
            &format_args!("handlers were installed process-wide {PROCESS_INSTALLS} times already; these are not"),
        );
        return false;
    };
    let installed = slot.set(new.into_boxed_slice()).is_ok();
    if installed && std::ptr::eq(slot, &PROCESS_HANDLERS[0]) {
        WATCH.fetch_add(1, Ordering::Relaxed);
    }
    installed
}

/// A sync handler's address, as [`leaving_out`] names it.
fn address_of(handler: &(dyn std::any::Any + Send + Sync)) -> *const () {
    std::ptr::from_ref(handler).cast()
}

/// How many handlers [`leaving_out`] records per thread: one per export nested in another
/// exporter's on the same thread, which takes a tracer whose exporter calls code traced by
/// another tracer whose exporter does the same. Past it, the innermost are not left out.
const MAX_LEFT_OUT: usize = 8;

thread_local! {
    /// The addresses of the sync handlers left out of the runs started on this thread, in
    /// the order they were left out (see [`leaving_out`]); `LEFT_OUT_HERE` says how many.
    /// Cells of addresses rather than a vector: nothing to drop, so no lazily registered
    /// destructor whose state each use would check, as every tree's export uses them.
    static LEFT_OUT: [Cell<*const ()>; MAX_LEFT_OUT] = const { [const { Cell::new(std::ptr::null()) }; MAX_LEFT_OUT] };
    static LEFT_OUT_HERE: Cell<usize> = const { Cell::new(0) };
}

/// Runs `body` with the sync handler at `handler` (its address, as `RegisteredHandler`
/// compares handlers) left out of the runs started on this thread meanwhile: no scope adds
/// it to them, and [`is_left_out`] tells it to ignore what it hears here.
///
/// The tracer's hook for its exporter, which it calls inline, on the thread that ended a
/// root run and inside the scopes around it: a traced call in the exporter (a traced HTTP
/// client) would start a run the tracer traces, whose tree it exports when it ends, through
/// the same exporter, without end. Other handlers, other tracers included, still see those
/// runs. Runs the exporter starts on other threads, with the tracer passed to them
/// explicitly, are traced as any.
pub(crate) fn leaving_out<R>(handler: *const (), body: impl FnOnce() -> R) -> R {
    /// Puts the thread's count back when `body` returns or unwinds.
    struct Restore(usize);

    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = LEFT_OUT_HERE.try_with(|here| here.set(self.0));
        }
    }

    let Ok(depth) = LEFT_OUT_HERE.try_with(Cell::get) else { return body() };
    let _ = LEFT_OUT.try_with(|left_out| left_out.get(depth).map(|slot| slot.set(handler)));
    let _ = LEFT_OUT_HERE.try_with(|here| here.set(depth + 1));
    let _restore = Restore(depth);
    body()
}

/// Whether the sync handler at `handler` is [left out](leaving_out) of runs on this thread now.
#[inline]
pub(crate) fn is_left_out(handler: *const ()) -> bool {
    let depth = LEFT_OUT_HERE.try_with(Cell::get).unwrap_or(0);
    depth > 0
        && LEFT_OUT.try_with(|left_out| left_out.iter().take(depth).any(|slot| slot.get() == handler)).unwrap_or(false)
}

/// One scope: its tracer's handler and the scopes around it.
struct Frame {
    handler: RegisteredHandler,
    outer: Option<Arc<Frame>>,
    depth: usize,
}

impl Frame {
    fn push(handler: RegisteredHandler) -> Arc<Frame> {
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
    env_handler().is_some()
        || process_handlers().next().is_some()
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

pub(crate) fn in_scope<R>(handler: RegisteredHandler, body: impl FnOnce() -> R) -> R {
    let live = Live::enter();
    let frame = Frame::push(handler);
    let previous = THREAD_FRAMES.with(|frames| frames.replace(Some(frame)));
    let _scope = ThreadScope { previous, _live: live };
    body()
}

pub(crate) async fn scope<F: Future>(handler: RegisteredHandler, future: F) -> F::Output {
    // The outer scopes are those around the first poll: where the block runs, not where the
    // future was made.
    let _live = Live::enter();
    let frame = Frame::push(handler);
    TASK_FRAMES.scope(Some(frame), future).await
}

/// The callbacks of the trace scopes around the caller (and of `RUNTRACE_TRACE`), as a manager
/// to move into a task or thread that the scopes do not reach, and pass explicitly there.
///
/// ```
/// use runtrace_runtime::RunKind;
/// use runtrace_runtime::tracer::{RunCollector, Tracer, scoped_callbacks};
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

/// The handler of the tracer `RUNTRACE_TRACE` names, if it names a file that opened.
fn env_handler() -> Option<&'static RegisteredHandler> {
    crate::tracer::scope::env_tracer().map(crate::tracer::Tracer::registered)
}

/// Called once the environment was read and names no file: one reason less to look.
pub(crate) fn unwatch_env() {
    WATCH.fetch_sub(1, Ordering::Relaxed);
}
