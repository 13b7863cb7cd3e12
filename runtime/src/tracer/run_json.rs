//! [`RunTree`]'s JSON: LangSmith's run shape, written so that the LangSmith SDK's run models
//! keep every field, and read back from it or from the shape runtrace wrote before.
//!
//! The Rust fields stay what a Rust reader wants (`metadata`, `usage_metadata` and a
//! [`RunKind`]); only their JSON places are LangSmith's:
//!
//! - `metadata` is `extra.metadata` (LangSmith's models drop a top-level one);
//! - `usage_metadata` is `extra.metadata.usage_metadata`, where LangSmith's SDK puts the
//!   tokens a run reports (its models have no top-level field for them);
//! - `run_type` is LangSmith's ([`RunKind::langsmith_run_type`]), and runtrace's kind, when it
//!   is not one of LangSmith's, is `extra.metadata.runtrace_kind` ([`RunTree::KIND_KEY`]);
//! - `session_name`, the project, is written when the tree has one.
//!
//! Older files (top-level `metadata` and `usage_metadata`, runtrace kinds in `run_type`)
//! read as they did.

use std::time::SystemTime;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::deep;
use super::run_tree::{RunEvent, RunTree, usage_metadata};
use super::timestamp::rfc3339;
use crate::event::{RunId, RunKind, Usage};

const METADATA: &str = "metadata";
const USAGE: &str = "usage_metadata";
const KIND: &str = RunTree::KIND_KEY;

/// A tree as written: borrowed from it, in LangSmith's places.
#[derive(Serialize)]
struct Written<'a> {
    id: RunId,
    trace_id: RunId,
    parent_run_id: Option<RunId>,
    dotted_order: &'a str,
    name: &'a str,
    run_type: &'static str,
    #[serde(with = "rfc3339")]
    start_time: SystemTime,
    #[serde(with = "rfc3339::option")]
    end_time: Option<SystemTime>,
    inputs: &'a Map<String, Value>,
    outputs: Option<&'a Map<String, Value>>,
    error: Option<&'a str>,
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    session_name: Option<&'a str>,
    extra: Extra<'a>,
    events: &'a [RunEvent],
    #[serde(skip_serializing_if = "Option::is_none")]
    child_runs: Option<Children<'a>>,
}

/// `extra`, with `metadata` in it.
struct Extra<'a>(&'a RunTree);

/// `extra.metadata`: the run's metadata, its usage and, when LangSmith has no name for it,
/// its runtrace kind.
struct Metadata<'a>(&'a RunTree);

/// `child_runs`, one level deeper on a stack that grows (see [`deep`]).
struct Children<'a>(&'a [RunTree]);

impl Serialize for RunTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written::of(self, Some(Children(&self.child_runs))).serialize(serializer)
    }
}

/// One run of a tree without its children, in LangSmith's run shape: what an ingest API
/// takes for each run. Made by [`RunTree::fields`].
///
/// ```
/// # let (_, trees) = runtrace_runtime::tracer::collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
/// #     let chain = runtrace_runtime::CallbackManager::none().start_run(runtrace_runtime::RunKind::Chain, "answer", &"2+2?")?;
/// #     chain.children().start_run(runtrace_runtime::RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
/// #     chain.end(&"4")
/// # });
/// let runs: Vec<serde_json::Value> =
///     trees[0].runs().map(|run| serde_json::to_value(run.fields())).collect::<Result<_, _>>()?;
/// assert_eq!(runs[1]["name"], "calculator");
/// assert_eq!(runs[1]["parent_run_id"], runs[0]["id"]);
/// assert!(runs[0].get("child_runs").is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RunFields<'a>(pub(super) &'a RunTree);

impl Serialize for RunFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written::of(self.0, None).serialize(serializer)
    }
}

impl<'a> Written<'a> {
    fn of(this: &'a RunTree, child_runs: Option<Children<'a>>) -> Self {
        Written {
            id: this.id,
            trace_id: this.trace_id,
            parent_run_id: this.parent_run_id,
            dotted_order: &this.dotted_order,
            name: &this.name,
            run_type: this.run_type.langsmith_run_type(),
            start_time: this.start_time,
            end_time: this.end_time,
            inputs: &this.inputs,
            outputs: this.outputs.as_ref(),
            error: this.error.as_deref(),
            tags: &this.tags,
            session_name: this.session_name.as_deref(),
            extra: Extra(this),
            events: &this.events,
            child_runs,
        }
    }
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A `metadata` entry the tracer's `extra` never holds would be a second key.
        let entries = self.0.extra.iter().filter(|(key, _)| *key != METADATA);
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry(METADATA, &Metadata(self.0))?;
        map.end()
    }
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tree = self.0;
        let kind = tree.run_type;
        let own_kind = (kind.as_str() != kind.langsmith_run_type()).then_some(kind.as_str());
        let usage = tree.usage_metadata.as_ref();
        // Ours win over the user's entries of the same names, which would not read back.
        let entries = tree
            .metadata
            .iter()
            .filter(|(key, _)| !(*key == KIND && own_kind.is_some() || *key == USAGE && usage.is_some()));
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        if let Some(kind) = own_kind {
            map.serialize_entry(KIND, kind)?;
        }
        if let Some(usage) = usage {
            map.serialize_entry(USAGE, &UsageShape(usage))?;
        }
        map.end()
    }
}

/// A [`Usage`] in LangSmith's `usage_metadata` shape.
struct UsageShape<'a>(&'a Usage);

impl Serialize for UsageShape<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        usage_metadata::serialize(&Some(*self.0), serializer)
    }
}

impl Serialize for Children<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        deep::serialize_children(self.0, serializer)
    }
}

/// A tree as read: LangSmith's places, or the older ones.
#[derive(Deserialize)]
struct Read {
    id: RunId,
    trace_id: RunId,
    parent_run_id: Option<RunId>,
    dotted_order: String,
    name: String,
    run_type: String,
    #[serde(with = "rfc3339")]
    start_time: SystemTime,
    #[serde(with = "rfc3339::option", default)]
    end_time: Option<SystemTime>,
    #[serde(default)]
    inputs: Map<String, Value>,
    #[serde(default)]
    outputs: Option<Map<String, Value>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    session_name: Option<String>,
    /// Where files written before runtrace 0.2 kept the metadata.
    #[serde(default)]
    metadata: Map<String, Value>,
    /// Where files written before runtrace 0.2 kept the usage.
    #[serde(default, with = "usage_metadata")]
    usage_metadata: Option<Usage>,
    #[serde(default)]
    extra: Map<String, Value>,
    #[serde(default)]
    events: Vec<RunEvent>,
    #[serde(default, deserialize_with = "deep::deserialize_children")]
    child_runs: Vec<RunTree>,
}

impl<'de> Deserialize<'de> for RunTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let read = Read::deserialize(deserializer)?;
        let Read { mut extra, mut metadata, mut usage_metadata, .. } = read;
        match extra.remove(METADATA) {
            Some(Value::Object(nested)) => {
                // In a file holding both places, LangSmith's wins.
                for (key, value) in nested {
                    metadata.insert(key, value);
                }
            }
            Some(other) => {
                extra.insert(METADATA.to_owned(), other);
            }
            None => {}
        }
        if let Some(usage) = metadata.get(USAGE).and_then(|usage| usage_from(usage.clone())) {
            usage_metadata.get_or_insert(usage);
            metadata.remove(USAGE);
        }
        let own_kind = match metadata.get(KIND).and_then(Value::as_str).map(str::parse::<RunKind>) {
            Some(Ok(kind)) => {
                metadata.remove(KIND);
                Some(kind)
            }
            _ => None,
        };
        let run_type = match own_kind {
            Some(kind) => kind,
            None => read.run_type.parse().map_err(D::Error::custom)?,
        };
        Ok(RunTree {
            id: read.id,
            trace_id: read.trace_id,
            parent_run_id: read.parent_run_id,
            dotted_order: read.dotted_order,
            name: read.name,
            run_type,
            start_time: read.start_time,
            end_time: read.end_time,
            inputs: read.inputs,
            outputs: read.outputs,
            error: read.error,
            tags: read.tags,
            metadata,
            usage_metadata,
            extra,
            events: read.events,
            child_runs: read.child_runs,
            session_name: read.session_name,
        })
    }
}

/// `value` as a [`Usage`], if it has LangSmith's `usage_metadata` shape.
fn usage_from(value: Value) -> Option<Usage> {
    usage_metadata::deserialize(value).ok().flatten()
}
