//! [`RunTree`]: one run with its children, as the tracer assembles and exports it.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::deep;
use super::timestamp::rfc3339;
use crate::event::{RunId, RunKind, Usage};

/// A finished run and its child runs, in LangSmith's run shape.
///
/// Its JSON is the run shape of LangSmith's SDK (its `RunTree` and `Run` models keep every
/// field), and exported trees can be read back with [`RunTree::read_jsonl`]:
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
/// - `session_name` is the LangSmith project, when the tree has one (see
///   [`Tracer::with_project`](crate::tracer::Tracer::with_project));
/// - `extra` holds what else the run knew, and `extra.metadata` its metadata.
///
/// The Rust fields are named for what a Rust reader wants, and three of them sit elsewhere
/// in the JSON, where LangSmith reads them:
///
/// | Rust field | JSON |
/// | --- | --- |
/// | [`metadata`](Self::metadata) | `extra.metadata` |
/// | [`usage_metadata`](Self::usage_metadata) | `extra.metadata.usage_metadata`, where LangSmith's SDK puts a run's tokens |
/// | [`run_type`](Self::run_type), runtrace's kind | `run_type`, LangSmith's ([`RunKind::langsmith_run_type`]): `chat_model` is `llm`, `agent` and `custom` are `chain`; runtrace's kind is then `extra.metadata.runtrace_kind` ([`KIND_KEY`](Self::KIND_KEY)), so that the tree reads back exactly |
///
/// Files written by runtrace before (top-level `metadata` and `usage_metadata`, runtrace's
/// kinds in `run_type`) read as they did.
///
/// A trace may be exported as several trees: runs below the tracer's
/// [depth limit](crate::tracer::Tracer::with_max_tree_depth), the finished children of a
/// long-lived run (see [`Tracer::with_max_finished_children`](crate::tracer::Tracer::with_max_finished_children)),
/// and runs whose parent is in another process are each the root of a tree of their own,
/// with their `parent_run_id`, `trace_id` and complete `dotted_order`, so that LangSmith,
/// or a reader, links them as one trace.
///
/// A dotted order holds a segment (59 bytes) per level down to its run, so the dotted orders
/// of a chain of runs `d` levels deep hold `d²/2` segments in all (some 3 GB at `d` =
/// 10,000): that is the format's size, paid by each exported tree and line. The tracer keeps
/// none while runs are open (only their start times), and exports a deep trace in pieces of
/// bounded depth, so its memory grows linearly with depth.
///
/// Trees may be as deep as the code that made them: dropping, cloning, comparing, printing
/// and (de)serializing one spends no stack frame of the caller per level. For that,
/// `RunTree` implements `Drop`, so take a field out of a tree you own with
/// [`std::mem::take`] (`let children = std::mem::take(&mut tree.child_runs);`) rather than by
/// moving it.
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
    /// Its kind, runtrace's (its JSON is LangSmith's `run_type`; see above).
    pub run_type: RunKind,
    /// When it started, to the microsecond.
    pub start_time: SystemTime,
    /// When it ended; `None` for a run still going when its parent ended.
    pub end_time: Option<SystemTime>,
    /// Its inputs.
    pub inputs: Map<String, Value>,
    /// Its outputs; `None` when it failed or did not end.
    pub outputs: Option<Map<String, Value>>,
    /// The error it failed with.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let search = CallbackManager::none().start_run(RunKind::Retriever, "search", &"rust")?;
    ///     search.error("the index is offline")
    /// });
    /// assert_eq!(trees[0].error.as_deref(), Some("the index is offline"));
    /// assert!(trees[0].outputs.is_none());
    /// ```
    pub error: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its metadata (`extra.metadata` in JSON). A model run's holds `ls_model_name` and
    /// `ls_provider` (LangSmith's keys) when its request named them.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::ModelRequest;
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let callbacks = CallbackManager::new().with_metadata([("user", "ada")]);
    ///     let request = || ModelRequest::new("gpt-4o-mini").with_provider("openai");
    ///     callbacks.start_model_run(RunKind::ChatModel, "chat", &"hi", &request)?.end(&"hello")
    /// });
    /// let metadata = &trees[0].metadata;
    /// assert_eq!((&metadata["user"], &metadata["ls_model_name"]), (&"ada".into(), &"gpt-4o-mini".into()));
    /// assert_eq!(metadata["ls_provider"], "openai");
    /// ```
    pub metadata: Map<String, Value>,
    /// For a model run, the tokens it billed, in LangSmith's `usage_metadata` shape
    /// (`input_tokens`, `output_tokens`, `total_tokens`, `input_token_details.cache_read`, ...):
    /// the last usage it reported, kept when it failed. In JSON, `extra.metadata.usage_metadata`.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let llm = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    ///     llm.report_usage(Usage::new(120, 30).with_cache_read(100))?;
    ///     llm.end(&"hello")
    /// });
    /// assert_eq!(trees[0].usage_metadata, Some(Usage::new(120, 30).with_cache_read(100)));
    /// let json = serde_json::to_value(&trees[0])?;
    /// let usage = &json["extra"]["metadata"]["usage_metadata"];
    /// assert_eq!((&usage["total_tokens"], &usage["input_token_details"]["cache_read"]), (&150.into(), &100.into()));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub usage_metadata: Option<Usage>,
    /// What else a run knew, besides its metadata (which is `extra.metadata` in JSON). A
    /// model run's: `invocation_params` (its request's parameters),
    /// `response` (the provider's model, id, finish reasons, messages), `input_messages`,
    /// and `time_to_first_token` (seconds).
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::ModelRequest;
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let request = || ModelRequest::new("gpt-4o-mini").with_param("temperature", 0.2);
    ///     let llm = CallbackManager::none().start_model_run(RunKind::Llm, "fake_llm", &"hi", &request)?;
    ///     llm.on_llm_new_token("hel")?;
    ///     llm.end(&"hello")
    /// });
    /// let extra = &trees[0].extra;
    /// assert_eq!(extra["invocation_params"]["temperature"], 0.2);
    /// assert!(extra["time_to_first_token"].as_f64().is_some_and(|seconds| seconds >= 0.0));
    /// ```
    pub extra: Map<String, Value>,
    /// What it streamed, in order.
    pub events: Vec<RunEvent>,
    /// Its children, in start order.
    pub child_runs: Vec<RunTree>,
    /// The LangSmith project it is recorded in (`session_name`), when one was named: by
    /// the trace headers its trace came with, else by
    /// [`Tracer::with_project`](crate::tracer::Tracer::with_project). All runs of a tree
    /// have the same.
    pub session_name: Option<String>,
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

/// A loop, not the derived recursion: each level's `Vec` would drop the next on a new frame.
impl Drop for RunTree {
    fn drop(&mut self) {
        if self.child_runs.is_empty() {
            return;
        }
        let mut below = std::mem::take(&mut self.child_runs);
        while let Some(mut run) = below.pop() {
            below.append(&mut run.child_runs);
        }
    }
}

impl Clone for RunTree {
    fn clone(&self) -> Self {
        RunTree {
            id: self.id,
            trace_id: self.trace_id,
            parent_run_id: self.parent_run_id,
            dotted_order: self.dotted_order.clone(),
            name: self.name.clone(),
            run_type: self.run_type,
            start_time: self.start_time,
            end_time: self.end_time,
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            error: self.error.clone(),
            tags: self.tags.clone(),
            metadata: self.metadata.clone(),
            usage_metadata: self.usage_metadata,
            extra: self.extra.clone(),
            events: self.events.clone(),
            child_runs: deep::grow(|| self.child_runs.clone()),
            session_name: self.session_name.clone(),
        }
    }
}

impl PartialEq for RunTree {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.trace_id == other.trace_id
            && self.parent_run_id == other.parent_run_id
            && self.dotted_order == other.dotted_order
            && self.name == other.name
            && self.run_type == other.run_type
            && self.start_time == other.start_time
            && self.end_time == other.end_time
            && self.inputs == other.inputs
            && self.outputs == other.outputs
            && self.error == other.error
            && self.tags == other.tags
            && self.metadata == other.metadata
            && self.usage_metadata == other.usage_metadata
            && self.extra == other.extra
            && self.events == other.events
            && self.session_name == other.session_name
            && deep::grow(|| self.child_runs == other.child_runs)
    }
}

impl fmt::Debug for RunTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The children, printed with [`deep::grow`].
        struct Children<'a>(&'a [RunTree]);

        impl fmt::Debug for Children<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                deep::grow(|| f.debug_list().entries(self.0).finish())
            }
        }

        f.debug_struct("RunTree")
            .field("id", &self.id)
            .field("trace_id", &self.trace_id)
            .field("parent_run_id", &self.parent_run_id)
            .field("dotted_order", &self.dotted_order)
            .field("name", &self.name)
            .field("run_type", &self.run_type)
            .field("start_time", &self.start_time)
            .field("end_time", &self.end_time)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("error", &self.error)
            .field("tags", &self.tags)
            .field("metadata", &self.metadata)
            .field("usage_metadata", &self.usage_metadata)
            .field("extra", &self.extra)
            .field("events", &self.events)
            .field("session_name", &self.session_name)
            .field("child_runs", &Children(&self.child_runs))
            .finish()
    }
}

impl RunTree {
    /// The `extra.metadata` key that keeps a run's runtrace kind in its JSON when LangSmith
    /// has no `run_type` of that name (`chat_model`, `agent`, `custom`).
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunTree, collect_runs};
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), CallbackError> {
    ///     let callbacks = CallbackManager::new().with_metadata([("user", "ada")]);
    ///     callbacks.start_run(RunKind::Agent, "agent", &"2+2?")?.end(&4)
    /// });
    /// let json = serde_json::to_value(&trees[0])?;
    /// assert_eq!(json["run_type"], "chain");
    /// assert_eq!(json["extra"]["metadata"][RunTree::KIND_KEY], "agent");
    /// assert_eq!(json["extra"]["metadata"]["user"], "ada");
    ///
    /// let read: RunTree = serde_json::from_value(json)?;
    /// assert_eq!(read, trees[0]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub const KIND_KEY: &'static str = "runtrace_kind";

    /// This run without its children, in the same JSON shape: what LangSmith's ingest API
    /// takes for each run of a trace (see [`RunFields`](crate::tracer::RunFields)).
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.end(&"4")
    /// });
    /// let mut whole = serde_json::to_value(&trees[0])?;
    /// whole.as_object_mut().expect("an object").remove("child_runs");
    /// assert_eq!(serde_json::to_value(trees[0].fields())?, whole);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn fields(&self) -> super::run_json::RunFields<'_> {
        super::run_json::RunFields(self)
    }

    /// How long the run took; `None` if it did not end.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), CallbackError> {
    ///     let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     let tool = chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    ///     chain.end(&"4")?; // the tree is exported now, with its tool still going
    ///     tool.end(&4)
    /// });
    /// let chain = &trees[0];
    /// let end_time = chain.end_time.expect("the chain ended");
    /// assert_eq!(chain.duration(), end_time.duration_since(chain.start_time).ok());
    /// assert_eq!(chain.child_runs[0].duration(), None);
    /// ```
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        self.end_time.map(|end| end.duration_since(self.start_time).unwrap_or_default())
    }

    /// The tokens billed by this run and every run below it: the sum of their
    /// [`usage_metadata`](Self::usage_metadata); `None` when none reported usage.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::tracer::collect_runs;
    ///
    /// let (_, trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
    ///     let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"hi")?;
    ///     for _ in 0..2 {
    ///         let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"hi")?;
    ///         llm.report_usage(Usage::new(10, 2))?;
    ///         llm.end(&"hello")?;
    ///     }
    ///     chain.end(&"hello")
    /// });
    /// assert_eq!(trees[0].total_usage(), Some(Usage::new(20, 4)));
    /// ```
    #[must_use]
    pub fn total_usage(&self) -> Option<Usage> {
        self.runs().filter_map(|run| run.usage_metadata).reduce(|total, usage| total + usage)
    }

    /// How many chunks the run itself streamed (its `new_token` events); the tokens it was
    /// billed are its [`usage_metadata`](Self::usage_metadata).
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
    /// let trees = collector.trees();
    /// let tool = trees[0].find("calculator").expect("the chain called the calculator");
    /// assert_eq!(tool.outputs.as_ref().expect("it succeeded")["output"], 4);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn find(&self, name: &str) -> Option<&RunTree> {
        self.runs().find(|run| run.name == name)
    }
}

/// [`Usage`] as LangSmith's `usage_metadata`: the details of cached and reasoning tokens
/// nested under `input_token_details` and `output_token_details`.
pub(super) mod usage_metadata {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::event::Usage;

    #[derive(Serialize, Deserialize, Default)]
    struct Shape {
        input_tokens: u64,
        output_tokens: u64,
        total_tokens: u64,
        #[serde(default, skip_serializing_if = "InputDetails::is_empty")]
        input_token_details: InputDetails,
        #[serde(default, skip_serializing_if = "OutputDetails::is_empty")]
        output_token_details: OutputDetails,
    }

    #[derive(Serialize, Deserialize, Default)]
    struct InputDetails {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_read: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_creation: Option<u64>,
    }

    impl InputDetails {
        fn is_empty(&self) -> bool {
            self.cache_read.is_none() && self.cache_creation.is_none()
        }
    }

    #[derive(Serialize, Deserialize, Default)]
    struct OutputDetails {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<u64>,
    }

    impl OutputDetails {
        fn is_empty(&self) -> bool {
            self.reasoning.is_none()
        }
    }

    #[allow(clippy::ref_option, reason = "serde's `with` hands the field by reference")]
    pub(in crate::tracer) fn serialize<S: Serializer>(usage: &Option<Usage>, serializer: S) -> Result<S::Ok, S::Error> {
        usage
            .map(|usage| Shape {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                total_tokens: usage.total_tokens,
                input_token_details: InputDetails {
                    cache_read: usage.cache_read_tokens,
                    cache_creation: usage.cache_creation_tokens,
                },
                output_token_details: OutputDetails { reasoning: usage.reasoning_tokens },
            })
            .serialize(serializer)
    }

    pub(in crate::tracer) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Usage>, D::Error> {
        Ok(Option::<Shape>::deserialize(deserializer)?.map(|shape| {
            let mut usage = Usage::new(shape.input_tokens, shape.output_tokens).with_total(shape.total_tokens);
            usage.cache_read_tokens = shape.input_token_details.cache_read;
            usage.cache_creation_tokens = shape.input_token_details.cache_creation;
            usage.reasoning_tokens = shape.output_token_details.reasoning;
            usage
        }))
    }
}
