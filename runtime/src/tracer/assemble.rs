//! The tracer's handler: assembles run trees from events and exports each finished root.
//!
//! Every event carries its tree's trace id, and all runs of one tree share it, so the open
//! runs are sharded by trace id: concurrent trees rarely meet on a lock, and each tree's
//! runs always meet on the same one, which is what keeps assembly exact under any
//! interleaving.
//!
//! Within a shard, each run is written once into a flat arena and stays in its slot until
//! its root ends, linked to its parent and children by slot. Only then is the tree taken
//! out as a [`RunTree`], and its dotted orders written from the start times kept: no run is
//! moved, and no dotted order formatted, while the tree grows. Runs are made of the buffers
//! of trees exported before (see [`spare`]), so a steady workload allocates little.
//!
//! Because ended runs stay until their root ends, a child that ends, records events or starts
//! after its parent ended still lands under it, as long as the root is open.
//!
//! The arena gives its memory back as trees leave: a shard left empty shrinks to
//! [`MIN_SLOTS`], and one left mostly empty is compacted, so one huge tree does not keep its
//! peak for the tracer's lifetime.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};

use super::dotted_order::{self, SEGMENT_LEN, push_segment};
use super::exporter::{ExportError, Exporter};
use super::kept_map;
use super::run_tree::{RunEvent, RunTree};
use super::spare::{self, Buffers};
use super::timestamp;
use crate::event::RunId;
use crate::event::{Event, EventData, EventType, RunStart};
use crate::handler::{CallbackHandler, HandlerResult};

const SHARDS: usize = 16;

/// The slots a shard keeps however empty it gets: room for an ordinary tree, so a quiet
/// shard does not allocate again for the next one. Small, as every shard keeps it: a slot
/// is some 450 bytes, so a tracer keeps some 115 KB at most once its trees are gone.
const MIN_SLOTS: usize = 16;

pub(crate) struct TracerCore {
    shards: [Mutex<Shard>; SHARDS],
    exporter: Box<dyn Exporter>,
}

/// An index into a shard's arena.
type Slot = usize;

#[derive(Default)]
struct Shard {
    /// Every run in `runs`, by id: events address the open ones, and runs that start
    /// look their parent up here, ended or not.
    held: HashMap<RunId, Slot, BuildHasherDefault<IdHasher>>,
    /// Every run of the trees whose roots are open, ended or not; `None` is a free slot.
    runs: Vec<Option<Run>>,
    /// The free slots of `runs`, reused before it grows.
    free: Vec<Slot>,
    /// The last start time handed out, in microseconds. Starts get strictly increasing
    /// times per shard, hence per tree: two runs started within one microsecond still sort
    /// in start order by dotted order, as LangSmith needs.
    last_start: i64,
}

/// A run in the arena.
struct Run {
    /// Everything but `dotted_order` and `child_runs`, which are made at export.
    tree: RunTree,
    /// `tree.start_time` in microseconds, for dotted orders.
    start: i64,
    /// The slot of its parent; `None` for the root of a tree this tracer exports.
    parent: Option<Slot>,
    /// The dotted order of its parent when that runs in another process (see
    /// [`TraceContext`](crate::TraceContext)); its own dotted order extends it.
    remote_parent_order: Option<Arc<str>>,
    /// The slots of its first and last child. Runs start in time order within a shard, so
    /// appending keeps children in start order, whatever order they end in.
    children: Option<(Slot, Slot)>,
    next_sibling: Option<Slot>,
}

/// Hashes a run id by folding its 16 bytes into 8. The ids inserted are those of runs this
/// process started: random (v4), so spread evenly, and never chosen by anyone outside. Ids
/// from outside (a parent's, from trace headers) are only looked up, never inserted, so they
/// cannot pile keys into one bucket: SipHash's defence against chosen keys buys nothing here,
/// and it was a visible share of the tracer's profile.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_ne_bytes(word);
        }
    }
}

/// What the tracer reports when events do not fit the trees it holds.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TraceError {
    #[error(
        "the tracer got a `{event}` event for run {run_id}, which it does not hold: the run never started under this \
         tracer, or the root of its tree had already ended and was exported without it"
    )]
    UnknownRun { run_id: RunId, event: EventType },
    #[error("the tracer got a `{event}` event for run {run_id}, which had already ended; the event is ignored")]
    AlreadyEnded { run_id: RunId, event: EventType },
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

    /// Counted, not kept: only tests and `Debug` ask, and a count would cost every event.
    pub(crate) fn open_runs(&self) -> usize {
        let open = |shard: &Shard| shard.runs.iter().flatten().filter(|run| run.tree.end_time.is_none()).count();
        self.shards.iter().map(|shard| open(&shard.lock().unwrap_or_else(PoisonError::into_inner))).sum()
    }

    /// Where the run `run_id`, of the tree the core calls `trace_id`, sits.
    pub(crate) fn placement(&self, run_id: RunId, trace_id: RunId) -> Option<Placement> {
        let shard = self.shard(trace_id);
        let slot = *shard.held.get(&run_id)?;
        let run = shard.run(slot)?;
        Some(Placement {
            trace_id: run.tree.trace_id,
            parent_run_id: run.tree.parent_run_id,
            dotted_order: shard.dotted_order(slot),
        })
    }

    fn start(&self, event: &Event<'_>, start: &RunStart<'_>) -> Result<(), TraceError> {
        let run = &*event.run;
        let Buffers { mut name, dotted_order, mut inputs, mut tags, events, child_runs } = spare::buffers();
        name.push_str(&run.name);
        kept_map::write_object(&start.inputs, &mut inputs, "input");
        tags.extend_from_slice(&start.tags);
        let metadata = start.metadata.to_map();
        let time = event.unix_micros();

        let mut shard = self.shard(run.trace_id);
        if shard.held.contains_key(&run.run_id) {
            return Err(TraceError::StartedTwice { run_id: run.run_id });
        }
        let micros = time.max(shard.last_start + 1);
        shard.last_start = micros;
        let parent = run.parent_run_id.and_then(|parent_id| shard.held.get(&parent_id).copied());
        let (parent_run_id, trace_id, remote_parent_order) = match (run.parent_run_id, parent) {
            (None, _) => (None, run.run_id, None),
            (Some(parent_id), Some(parent)) => {
                (Some(parent_id), shard.run(parent).map_or(run.trace_id, |parent| parent.tree.trace_id), None)
            }
            // The parent lives in another process: join its trace where the headers put it.
            (Some(parent_id), None) => match &run.parent_dotted_order {
                Some(remote) => (Some(parent_id), run.trace_id, Some(Arc::clone(remote))),
                // As LangChain's tracer does: a run whose parent this tracer does not hold (it
                // was added as a local handler below the root, or the parent's tree was
                // already exported) becomes a root.
                None => {
                    tracing::debug!(target: "runtrace", run_id = %run.run_id, parent = %parent_id,
                        "the tracer does not hold this run's parent; it is exported as a root");
                    (None, run.run_id, None)
                }
            },
        };
        let tree = RunTree {
            id: run.run_id,
            trace_id,
            parent_run_id,
            dotted_order,
            name,
            run_type: run.kind,
            start_time: timestamp::from_micros(micros),
            end_time: None,
            inputs,
            outputs: None,
            error: None,
            tags,
            metadata,
            events,
            child_runs,
        };
        shard.insert(Run { tree, start: micros, parent, remote_parent_order, children: None, next_sibling: None });
        Ok(())
    }

    fn finish(&self, event: &Event<'_>, ending: Ending) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let time = event.unix_micros();
        let mut shard = self.shard(event.run.trace_id);
        let (slot, run) = shard.open_run(run_id, event)?;
        run.tree.end_time = Some(timestamp::from_micros(time.max(run.start)));
        match ending {
            Ending::Outputs(outputs) => run.tree.outputs = Some(outputs),
            Ending::Error(error) => run.tree.error = Some(error),
        }
        if run.parent.is_some() {
            return Ok(());
        }
        // A root ended: its whole tree leaves memory now, and is exported outside the lock.
        let tree = shard.take_tree(slot).ok_or(TraceError::UnknownRun { run_id, event: event.event_type() })?;
        shard.forget(&tree);
        drop(shard);
        let exported = self.exporter.export(&tree);
        spare::recycle(tree);
        Ok(exported?)
    }

    fn record(&self, event: &Event<'_>, name: &str, kwargs: Map<String, Value>) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let time = timestamp::from_micros(event.unix_micros());
        let mut shard = self.shard(event.run.trace_id);
        shard.open_run(run_id, event)?.1.tree.events.push(RunEvent::new(name, time, kwargs));
        Ok(())
    }
}

enum Ending {
    Outputs(Map<String, Value>),
    Error(String),
}

impl Shard {
    fn run(&self, slot: Slot) -> Option<&Run> {
        self.runs.get(slot)?.as_ref()
    }

    fn run_mut(&mut self, slot: Slot) -> Option<&mut Run> {
        self.runs.get_mut(slot)?.as_mut()
    }

    /// The run `run_id`, which `event` addresses, if it has not ended.
    fn open_run(&mut self, run_id: RunId, event: &Event<'_>) -> Result<(Slot, &mut Run), TraceError> {
        let unknown = || TraceError::UnknownRun { run_id, event: event.event_type() };
        let slot = *self.held.get(&run_id).ok_or_else(unknown)?;
        let run = self.run_mut(slot).ok_or_else(unknown)?;
        if run.tree.end_time.is_some() {
            return Err(TraceError::AlreadyEnded { run_id, event: event.event_type() });
        }
        Ok((slot, run))
    }

    /// Puts a run that just started into a free slot, as its parent's last child.
    fn insert(&mut self, run: Run) {
        let (id, parent) = (run.tree.id, run.parent);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.runs[slot] = Some(run);
                slot
            }
            None => {
                self.runs.push(Some(run));
                self.runs.len() - 1
            }
        };
        let previous_last = parent.and_then(|parent| {
            let parent = self.run_mut(parent)?;
            let (first, last) = parent.children.map_or((slot, None), |(first, last)| (first, Some(last)));
            parent.children = Some((first, slot));
            last
        });
        if let Some(previous_last) = previous_last.and_then(|last| self.run_mut(last)) {
            previous_last.next_sibling = Some(slot);
        }
        self.held.insert(id, slot);
    }

    /// Takes the tree of the run at `slot` out of the arena, freeing its slots; [`forget`]
    /// its ids next. Children still open are taken in as they are (no end time): a tree is
    /// final when its root ends, and its memory goes with it.
    ///
    /// [`forget`]: Self::forget
    fn take_tree(&mut self, slot: Slot) -> Option<RunTree> {
        let Run { mut tree, start, remote_parent_order, children, .. } = self.runs.get_mut(slot)?.take()?;
        self.free.push(slot);
        let parent_order = remote_parent_order.as_deref().unwrap_or_default();
        dotted_order::write(&mut tree.dotted_order, parent_order, start, tree.id);
        self.take_children(children, &mut tree);
        Some(tree)
    }

    /// Moves the runs of `children` (first and last slot), with their descendants, out of
    /// the arena into `parent`. Each run is moved once, straight into its parent's vector:
    /// a run is some 450 bytes, and copies of it were a visible share of the tracer's time.
    fn take_children(&mut self, children: Option<(Slot, Slot)>, parent: &mut RunTree) {
        let first = children.map(|(first, _)| first);
        parent.child_runs.reserve_exact(self.siblings(first).count());
        let mut next = first;
        while let Some(slot) = next {
            let Some(run) = self.runs.get_mut(slot).and_then(Option::take) else { break };
            self.free.push(slot);
            next = run.next_sibling;
            let (start, children) = (run.start, run.children);
            parent.child_runs.push(run.tree);
            if let Some(child) = parent.child_runs.last_mut() {
                dotted_order::write(&mut child.dotted_order, &parent.dotted_order, start, child.id);
                self.take_children(children, child);
            }
        }
    }

    /// Forgets the ids of `tree`, just taken out, and gives back the memory the arena no
    /// longer needs. Emptied, as after each tree of a steady workload, the shard forgets
    /// every id at once and goes back to [`MIN_SLOTS`], at no cost. Mostly free (one huge
    /// tree left while others remain), its runs move down over the free slots and it shrinks
    /// to fit: that costs a pass over the arena, paid for by the many runs that left since
    /// the last one, as compacting leaves no free slot.
    fn forget(&mut self, tree: &RunTree) {
        if self.free.len() == self.runs.len() {
            self.held.clear();
            self.runs.clear();
            self.free.clear();
        } else {
            forget_ids(&mut self.held, tree);
            if self.runs.len() > MIN_SLOTS && self.free.len() >= self.runs.len() / 4 * 3 {
                self.compact();
            } else {
                // Shrinking a busy arena only to grow it again would reallocate at every tree.
                return;
            }
        }
        self.runs.shrink_to(MIN_SLOTS);
        self.free.shrink_to(MIN_SLOTS);
        // Only a map at most a quarter full, so that it is not shrunk again at the next tree.
        if self.held.capacity() > 4 * self.held.len().max(MIN_SLOTS) {
            self.held.shrink_to(MIN_SLOTS);
        }
    }

    /// Moves every run down over the free slots, keeping their order, and relinks them.
    fn compact(&mut self) {
        self.free.sort_unstable();
        let free = &self.free;
        // Order is kept, so a run moves down by the number of free slots below it.
        let moved = |slot: Slot| slot - free.partition_point(|&free| free < slot);
        self.runs.retain(Option::is_some);
        for run in self.runs.iter_mut().flatten() {
            run.parent = run.parent.map(moved);
            run.children = run.children.map(|(first, last)| (moved(first), moved(last)));
            run.next_sibling = run.next_sibling.map(moved);
        }
        self.held.values_mut().for_each(|slot| *slot = moved(*slot));
        self.free.clear();
    }

    /// The slots of `first` and its next siblings.
    fn siblings(&self, first: Option<Slot>) -> impl Iterator<Item = Slot> + '_ {
        std::iter::successors(first, |&slot| self.run(slot)?.next_sibling)
    }

    /// The dotted order of the run at `slot`, from the start times of its ancestors.
    fn dotted_order(&self, slot: Slot) -> String {
        let path: Vec<&Run> =
            std::iter::successors(self.run(slot), |run| run.parent.and_then(|parent| self.run(parent))).collect();
        let prefix = path.last().and_then(|root| root.remote_parent_order.as_deref()).unwrap_or_default();
        let mut order = String::with_capacity(prefix.len() + path.len() * (1 + SEGMENT_LEN));
        order.push_str(prefix);
        for run in path.iter().rev() {
            push_segment(&mut order, run.start, run.tree.id);
        }
        order
    }
}

fn forget_ids(held: &mut HashMap<RunId, Slot, BuildHasherDefault<IdHasher>>, tree: &RunTree) {
    held.remove(&tree.id);
    tree.child_runs.iter().for_each(|child| forget_ids(held, child));
}

fn object(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

impl CallbackHandler for TracerCore {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let outcome = match &event.data {
            EventData::Start(start) => self.start(event, start),
            EventData::End(end) => {
                let mut outputs = spare::output_map();
                kept_map::write_object(&end.outputs, &mut outputs, "output");
                self.finish(event, Ending::Outputs(outputs))
            }
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
            EventData::Usage(usage) => self.record(event, "usage", object([("usage", json!(usage))])),
            EventData::Metadata(metadata) => {
                self.record(event, "metadata", object([("metadata", Value::Object(metadata.to_map()))]))
            }
        };
        outcome.map_err(Into::into)
    }

    fn name(&self) -> &str {
        "runtrace::Tracer"
    }
}
