//! [`RunTree`]: one run with its children, as the tracer assembles and exports it.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::timestamp::rfc3339;
use crate::event::{RunId, RunKind};

/// A finished run and its child runs, in LangSmith's run shape.
///
/// The JSON field names are stable and LangSmith's; exported trees can be read back with
/// [`RunTree::read_jsonl`]:
///
/// - `trace_id` is the id of the tree's root;
/// - `dotted_order` is the root's start time and id, then `.` and each descendant's down to
///   this run (`20240506T070809123456Z<uuid>.20240506T070809123789Z<uuid>`), so sorting runs
///   by it lists a trace in the order its runs started, parents before children;
/// - `inputs` and `outputs` are JSON objects: a value that is not one is wrapped as
///   `{"input": value}` / `{"output": value}`; `outputs` is `null` for a failed run;
/// - `events` holds what the run streamed (tokens, text, retries, agent steps, custom
///   events), each with its time;
/// - `child_runs` are in start order;
/// - `run_type` is runtrace's own kind, so that a tree reads back exactly: `chat_model`,
///   `agent` and `custom` are not LangSmith run types, and an exporter that sends runs to
///   LangSmith maps them with [`RunKind::langsmith_run_type`].
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{Tracer, RunCollector};
///
/// let collector = RunCollector::new();
/// let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
/// let llm = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
/// llm.on_llm_new_token("Hel")?;
/// llm.on_llm_new_token("lo")?;
/// llm.end(&"Hello")?;
///
/// let tree = &collector.trees()[0];
/// assert_eq!(tree.inputs["input"], "Say hello");
/// assert_eq!(tree.outputs.as_ref().unwrap()["output"], "Hello");
/// assert_eq!(tree.token_count(), 2);
/// assert_eq!(tree.trace_id, tree.id);
/// assert!(tree.dotted_order.ends_with(&tree.id.to_string()));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunTree {
    /// The run's id.
    pub id: RunId,
    /// The id of the root of its trace.
    pub trace_id: RunId,
    /// Its parent's id; `None` for a root. A tree exported with a parent id continues a
    /// trace begun in another process.
    pub parent_run_id: Option<RunId>,
    /// Its place in the trace, sortable into start order (see above).
    pub dotted_order: String,
    /// The run's name.
    pub name: String,
    /// Its kind.
    pub run_type: RunKind,
    /// When it started, to the microsecond.
    #[serde(with = "rfc3339")]
    pub start_time: SystemTime,
    /// When it ended; `None` for a run still going when its parent ended.
    #[serde(with = "rfc3339::option", default)]
    pub end_time: Option<SystemTime>,
    /// Its inputs.
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// Its outputs; `None` when it failed or did not end.
    #[serde(default)]
    pub outputs: Option<Map<String, Value>>,
    /// The error it failed with.
    #[serde(default)]
    pub error: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// What it streamed, in order.
    #[serde(default)]
    pub events: Vec<RunEvent>,
    /// Its children, in start order.
    #[serde(default)]
    pub child_runs: Vec<RunTree>,
}

/// Something a run streamed: `new_token` (`{"token"}`), `text` (`{"text"}`), `retry`
/// (`{"attempt", "reason"}`), `agent_action` (`{"tool", "tool_input", "log"}`),
/// `agent_finish` (`{"output", "log"}`), or a custom event under its own name (`{"data"}`).
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{Tracer, RunCollector};
///
/// let collector = RunCollector::new();
/// let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
/// let run = callbacks.start_run(RunKind::Chain, "index", &())?;
/// run.on_custom_event("progress", &50)?;
/// run.end(&())?;
/// let event = &collector.trees()[0].events[0];
/// assert_eq!((event.name.as_str(), &event.kwargs["data"]), ("progress", &serde_json::json!(50)));
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunEvent {
    /// What happened.
    pub name: String,
    /// When, to the microsecond.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Its data.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

impl RunEvent {
    pub(crate) fn new(name: impl Into<String>, time: SystemTime, kwargs: Map<String, Value>) -> Self {
        RunEvent { name: name.into(), time, kwargs }
    }
}

/// What reading a JSON Lines trace file can fail with.
///
/// ```
/// let missing = runtrace_runtime::tracer::RunTree::read_jsonl("/no/such/runs.jsonl");
/// assert!(matches!(missing, Err(runtrace_runtime::tracer::ReadError::Io(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("could not read the trace file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a run tree.
    #[error("line {line} of the trace file is not a run tree: {source}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
}

impl RunTree {
    /// How long the run took; `None` if it did not end.
    ///
    /// ```
    /// # let collector = runtrace_runtime::tracer::RunCollector::new();
    /// # let callbacks = runtrace_runtime::CallbackManager::new().with_handler(runtrace_runtime::tracer::Tracer::new(collector.clone()));
    /// # callbacks.start_run(runtrace_runtime::RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// let tree = &collector.trees()[0];
    /// assert!(tree.duration().is_some());
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        self.end_time.map(|end| end.duration_since(self.start_time).unwrap_or_default())
    }

    /// How many tokens the run itself streamed (its `new_token` events).
    ///
    /// ```
    /// # let collector = runtrace_runtime::tracer::RunCollector::new();
    /// # let callbacks = runtrace_runtime::CallbackManager::new().with_handler(runtrace_runtime::tracer::Tracer::new(collector.clone()));
    /// let run = callbacks.start_run(runtrace_runtime::RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// run.end(&"Hel")?;
    /// assert_eq!(collector.trees()[0].token_count(), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.events.iter().filter(|event| event.name == "new_token").count()
    }

    /// This run and all its descendants, parents before children, siblings in start order.
    ///
    /// ```
    /// # let collector = runtrace_runtime::tracer::RunCollector::new();
    /// # let callbacks = runtrace_runtime::CallbackManager::new().with_handler(runtrace_runtime::tracer::Tracer::new(collector.clone()));
    /// let chain = callbacks.start_run(runtrace_runtime::RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(runtrace_runtime::RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// chain.end(&"4")?;
    /// let names: Vec<_> = collector.trees()[0].runs().map(|run| run.name.clone()).collect();
    /// assert_eq!(names, ["answer", "calculator"]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn runs(&self) -> impl Iterator<Item = &RunTree> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let run = stack.pop()?;
            stack.extend(run.child_runs.iter().rev());
            Some(run)
        })
    }

    /// The first run named `name` in [`runs`](Self::runs) order.
    ///
    /// ```
    /// # let collector = runtrace_runtime::tracer::RunCollector::new();
    /// # let callbacks = runtrace_runtime::CallbackManager::new().with_handler(runtrace_runtime::tracer::Tracer::new(collector.clone()));
    /// # let chain = callbacks.start_run(runtrace_runtime::RunKind::Chain, "answer", &"2+2?")?;
    /// # chain.children().start_run(runtrace_runtime::RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// # chain.end(&"4")?;
    /// let tool = collector.trees()[0].find("calculator").cloned();
    /// assert_eq!(tool.unwrap().outputs.unwrap()["output"], 4);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn find(&self, name: &str) -> Option<&RunTree> {
        self.runs().find(|run| run.name == name)
    }

    /// Reads the trees of a JSON Lines file, one per line, as
    /// [`JsonlExporter`](crate::tracer::JsonlExporter) writes them. Blank lines are skipped.
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] if the file cannot be read, [`ReadError::Line`] for a line that is
    /// not a run tree.
    ///
    /// ```no_run
    /// for tree in runtrace_runtime::tracer::RunTree::read_jsonl("runs.jsonl")? {
    ///     println!("{} took {:?}", tree.name, tree.duration());
    /// }
    /// # Ok::<(), runtrace_runtime::tracer::ReadError>(())
    /// ```
    pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<RunTree>, ReadError> {
        let file = std::fs::File::open(path)?;
        RunTree::from_jsonl(std::io::BufReader::new(file))
    }

    /// [`read_jsonl`](Self::read_jsonl) from any reader.
    ///
    /// # Errors
    ///
    /// As [`read_jsonl`](Self::read_jsonl).
    ///
    /// ```
    /// let trees = runtrace_runtime::tracer::RunTree::from_jsonl("\n".as_bytes())?;
    /// assert!(trees.is_empty());
    /// # Ok::<(), runtrace_runtime::tracer::ReadError>(())
    /// ```
    pub fn from_jsonl(reader: impl BufRead) -> Result<Vec<RunTree>, ReadError> {
        let mut trees = Vec::new();
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let tree = serde_json::from_str(&line).map_err(|source| ReadError::Line { line: index + 1, source })?;
            trees.push(tree);
        }
        Ok(trees)
    }
}
