//! The tracer's handler: assembles run trees from events and exports each finished root.
//!
//! Every event carries its tree's trace id, and all runs of one tree share it, so the open
//! runs are sharded by trace id: concurrent trees rarely meet on a lock, and each tree's
//! runs always meet on the same one, which is what keeps assembly exact under any
//! interleaving.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};

use super::exporter::{ExportError, Exporter};
use super::run_tree::{RunEvent, RunTree, wrap};
use super::timestamp;
use crate::RunId;
use crate::event::{Event, EventData, EventType, RunStart};
use crate::handler::{CallbackHandler, HandlerResult};

const SHARDS: usize = 16;

pub(crate) struct TracerCore {
    shards: [Mutex<Shard>; SHARDS],
    exporter: Box<dyn Exporter>,
}

#[derive(Default)]
struct Shard {
    open: HashMap<RunId, OpenRun>,
    /// The last start time handed out, in microseconds. Starts get strictly increasing
    /// times per shard, hence per tree: two runs started within one microsecond still sort
    /// in start order by dotted order, as LangSmith needs.
    last_start: i64,
}

struct OpenRun {
    tree: RunTree,
    /// Children that started and have not ended; the finished ones are in `tree.child_runs`.
    open_children: Vec<RunId>,
}

/// What the tracer reports when events do not fit the trees it holds.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TraceError {
    #[error(
        "the tracer got {event} for run {run_id}, which it does not hold: the run never started under this \
         tracer, or its parent had already ended and was exported without it"
    )]
    UnknownRun { run_id: RunId, event: EventType },
    #[error("run {run_id} started twice under the same tracer (is it added twice?); the second start is ignored")]
    StartedTwice { run_id: RunId },
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Where a run sits in its trace, as headers carry it.
pub(crate) struct Placement {
    pub(crate) trace_id: RunId,
    pub(crate) parent_run_id: Option<RunId>,
    pub(crate) dotted_order: String,
}

impl TracerCore {
    pub(crate) fn new(exporter: Box<dyn Exporter>) -> Self {
        TracerCore { shards: std::array::from_fn(|_| Mutex::default()), exporter }
    }

    fn shard(&self, trace_id: RunId) -> MutexGuard<'_, Shard> {
        let index = (trace_id.as_uuid().as_u128() % SHARDS as u128) as usize;
        // Shards are updated with no code between a change and its bookkeeping that can
        // panic, so a poisoned one still holds consistent trees.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn open_runs(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).open.len()).sum()
    }

    /// Where the open run `run_id`, of the tree the core calls `trace_id`, sits.
    pub(crate) fn placement(&self, run_id: RunId, trace_id: RunId) -> Option<Placement> {
        let shard = self.shard(trace_id);
        let run = &shard.open.get(&run_id)?.tree;
        Some(Placement {
            trace_id: run.trace_id,
            parent_run_id: run.parent_run_id,
            dotted_order: run.dotted_order.clone(),
        })
    }

    fn start(&self, event: &Event<'_>, start: &RunStart<'_>) -> Result<(), TraceError> {
        let run = &*event.run;
        let inputs = wrap(start.inputs.get(), "input");
        let tags = start.tags.to_vec();
        let metadata = start.metadata.to_map();

        let mut shard = self.shard(run.trace_id);
        if shard.open.contains_key(&run.run_id) {
            return Err(TraceError::StartedTwice { run_id: run.run_id });
        }
        let micros = timestamp::to_micros(event.time()).max(shard.last_start + 1);
        shard.last_start = micros;
        let mut segment = String::with_capacity(timestamp::COMPACT_LEN + 36);
        timestamp::write_compact(&mut segment, micros);
        segment.push_str(&run.run_id.to_string());

        let (parent_run_id, trace_id, dotted_order) = match run.parent_run_id {
            None => (None, run.run_id, segment),
            Some(parent_id) => match shard.open.get_mut(&parent_id) {
                Some(parent) => {
                    parent.open_children.push(run.run_id);
                    (Some(parent_id), parent.tree.trace_id, format!("{}.{segment}", parent.tree.dotted_order))
                }
                // The parent lives in another process: join its trace where the headers put it.
                None => match &run.parent_dotted_order {
                    Some(remote) => (Some(parent_id), run.trace_id, format!("{remote}.{segment}")),
                    // As LangChain's tracer does: a run whose parent this tracer never saw (it
                    // was added as a local handler below the root) becomes a root.
                    None => {
                        tracing::debug!(target: "runtrace", run_id = %run.run_id, parent = %parent_id,
                            "the tracer never saw this run's parent; it is exported as a root");
                        (None, run.run_id, segment)
                    }
                },
            },
        };
        let tree = RunTree {
            id: run.run_id,
            trace_id,
            parent_run_id,
            dotted_order,
            name: run.name.clone().into_owned(),
            run_type: run.kind,
            start_time: timestamp::from_micros(micros),
            end_time: None,
            inputs,
            outputs: None,
            error: None,
            tags,
            metadata,
            events: Vec::new(),
            child_runs: Vec::new(),
        };
        shard.open.insert(run.run_id, OpenRun { tree, open_children: Vec::new() });
        Ok(())
    }

    fn finish(&self, event: &Event<'_>, ending: Ending) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let mut shard = self.shard(event.run.trace_id);
        let Some(mut run) = shard.open.remove(&run_id) else {
            return Err(TraceError::UnknownRun { run_id, event: event.event_type() });
        };
        let end = timestamp::to_micros(event.time()).max(timestamp::to_micros(run.tree.start_time));
        run.tree.end_time = Some(timestamp::from_micros(end));
        match ending {
            Ending::Outputs(outputs) => run.tree.outputs = Some(outputs),
            Ending::Error(error) => run.tree.error = Some(error),
        }
        let tree = shard.close(run);
        if let Some(parent) = tree.parent_run_id.and_then(|parent_id| shard.open.get_mut(&parent_id)) {
            parent.open_children.retain(|child| *child != run_id);
            parent.tree.child_runs.push(tree);
            return Ok(());
        }
        // A root ended: its whole tree leaves memory now, and is exported outside the lock.
        drop(shard);
        self.exporter.export(&tree)?;
        Ok(())
    }

    fn record(&self, event: &Event<'_>, name: &str, kwargs: Map<String, Value>) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let time = timestamp::truncate(event.time());
        let mut shard = self.shard(event.run.trace_id);
        let run = shard.open.get_mut(&run_id).ok_or(TraceError::UnknownRun { run_id, event: event.event_type() })?;
        run.tree.events.push(RunEvent::new(name, time, kwargs));
        Ok(())
    }
}

enum Ending {
    Outputs(Map<String, Value>),
    Error(String),
}

impl Shard {
    /// Makes `run`'s final tree. Children still open are taken in as they are (no end time)
    /// and forgotten: a tree is final when its run ends, and its memory goes with it.
    fn close(&mut self, mut run: OpenRun) -> RunTree {
        for child_id in std::mem::take(&mut run.open_children) {
            if let Some(child) = self.open.remove(&child_id) {
                let child = self.close(child);
                run.tree.child_runs.push(child);
            }
        }
        // Children end in any order; start times, unique per tree, put them in start order.
        run.tree.child_runs.sort_by(|a, b| a.start_time.cmp(&b.start_time).then_with(|| a.id.cmp(&b.id)));
        run.tree
    }
}

fn object(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

impl CallbackHandler for TracerCore {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let outcome = match &event.data {
            EventData::Start(start) => self.start(event, start),
            EventData::End(end) => self.finish(event, Ending::Outputs(wrap(end.outputs.get(), "output"))),
            EventData::Error(error) => self.finish(event, Ending::Error(error.message.clone())),
            EventData::NewToken(token) => self.record(event, "new_token", object([("token", json!(token))])),
            EventData::Text(text) => self.record(event, "text", object([("text", json!(text))])),
            EventData::Retry(retry) => self.record(
                event,
                "retry",
                object([("attempt", json!(retry.attempt)), ("reason", json!(retry.reason))]),
            ),
            EventData::AgentAction(action) => self.record(
                event,
                "agent_action",
                object([
                    ("tool", json!(action.tool)),
                    ("tool_input", action.tool_input.clone()),
                    ("log", json!(action.log)),
                ]),
            ),
            EventData::AgentFinish(finish) => self.record(
                event,
                "agent_finish",
                object([("output", finish.output.clone()), ("log", json!(finish.log))]),
            ),
            EventData::Custom(custom) => self.record(event, &custom.name, object([("data", custom.data.clone())])),
        };
        outcome.map_err(Into::into)
    }

    fn name(&self) -> &str {
        "runtrace::Tracer"
    }
}
