//! Tracing without passing a tracer by hand: [`collect_runs`], and the `RUNTRACE_TRACE`
//! environment variable. The scopes themselves are the run layer's ambient handlers
//! (`run::ambient`); [`Tracer::in_scope`] and [`Tracer::scope`] open one.

use std::future::Future;
use std::sync::OnceLock;

use super::Tracer;
use super::exporter::{JsonlExporter, RunCollector};
use super::run_tree::RunTree;
use crate::dispatch::report;
use crate::run::ambient;

pub(crate) fn env_tracer() -> Option<&'static Tracer> {
    static ENV: OnceLock<Option<Tracer>> = OnceLock::new();
    ENV.get_or_init(|| {
        let tracer = std::env::var_os(Tracer::TRACE_ENV).filter(|path| !path.is_empty()).and_then(|path| {
            JsonlExporter::open(&path)
                .inspect_err(|error| {
                    report::warn_once(
                        "trace file cannot be opened",
                        &format_args!(
                            "{} names {}, a file that cannot be opened ({error}); runs are not traced",
                            Tracer::TRACE_ENV,
                            path.to_string_lossy()
                        ),
                    );
                })
                .ok()
        });
        if tracer.is_none() {
            ambient::unwatch_env();
        }
        // Named as LangSmith's SDK names the project of the runs it traces, so that the
        // file's trees carry the project a LangSmith export of the same program would.
        let project = ["LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|project| !project.is_empty()));
        tracer.map(Tracer::new).map(|tracer| match project {
            Some(project) => tracer.with_project(project),
            None => tracer,
        })
    })
    .as_ref()
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
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::collect_runs;
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
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::collect_runs_async;
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
