//! The tracer's handler: assembles run trees from events and exports each finished root.
//!
//! Every event carries its tree's trace id, and all runs of one tree share it, so the open
//! runs are sharded by trace id (by the [stripe](crate::stripe) it names, that of the
//! thread that started the tree): trees of different threads do not meet on a lock or in
//! memory, and each tree's runs always meet on the same one, which is what keeps assembly
//! exact under any interleaving.
//!
//! Within a shard, each run is written once into a flat arena and stays in its slot until
//! it is exported, linked to its parent and children by slot. Only then is its tree taken
//! out as a [`RunTree`], and its dotted orders written from the start times kept, each from
//! its parent's on the way down: no run is moved, and no dotted order formatted, while the
//! tree grows, so an open tree costs memory linear in its runs whatever its depth. Runs are
//! made of the buffers of trees exported before (see [`spare`]), so a steady workload
//! allocates little.
//!
//! A tree is exported when its root ends, in pieces where it would be too large to hold:
//!
//! - a piece holds at most [`Limits::max_depth`] levels, and the runs below are exported
//!   after it as pieces of their own, so that the complete dotted orders of one piece, a
//!   segment per level each, never add up to the square of the trace's depth;
//! - a run that holds more than [`Limits::max_finished_children`] finished children (ended,
//!   with every run below them ended) while its tree stays open gives them up, each exported
//!   as a piece, so a root open for a process's life holds a bounded number of runs.
//!
//! A piece keeps its head's `parent_run_id` and complete dotted order, as a run under a
//! remote parent does, so LangSmith and readers link the pieces of a trace. Trees may be
//! deeper than the thread's stack, so no walk here takes a stack frame per level: taking a
//! tree out recurses for its first [`RECURSIVE_LEVELS`] only, and loops below.
//!
//! Because ended runs stay until their tree is exported, a child that ends, records events
//! or starts after its parent ended still lands under it, as long as the root is open and
//! the parent was not given up as finished.
//!
//! The arena gives its memory back as trees leave: a shard left empty shrinks to
//! [`MIN_SLOTS`], and one left mostly empty is compacted, so one huge tree does not keep its
//! peak for the tracer's lifetime.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde_json::{Map, Value, json};

use super::dotted_order::{self, SEGMENT_LEN, push_segment};
use super::exporter::{ExportError, Exporter};
use super::kept_map;
use super::run_tree::{RunEvent, RunTree};
use super::spare::{self, Buffers};
use super::timestamp;
use crate::event::{Event, EventData, EventType, ModelOutcome, ModelRequest, RunStart};
use crate::event::{IdMap, RunId};
use crate::handler::{CallbackHandler, HandlerResult};
use crate::run::ambient;

const SHARDS: usize = crate::stripe::STRIPES;

/// The levels below a piece's head that [`Shard::take_children`] takes a stack frame each
/// for; the rest are taken by a loop.
const RECURSIVE_LEVELS: usize = 32;

/// The slots a shard keeps however empty it gets: room for an ordinary tree, a chain 32
/// runs deep among them, so a quiet shard does not allocate again for the next one. A slot
/// is some 450 bytes, so a shard keeps some 14 KB once its trees are gone; only the shards of
/// the threads that start trees (see [`crate::stripe`]) ever hold any.
const MIN_SLOTS: usize = 32;

pub(crate) struct TracerCore {
    shards: [ShardLock; SHARDS],
    exporter: Box<dyn Exporter>,
    pub(crate) limits: Limits,
    /// The LangSmith project of the trees it starts, unless their headers name one (see
    /// [`Tracer::with_project`](crate::tracer::Tracer::with_project)). A lock, as clones share it
    /// and the builder sets it after the handler exists; read by heads of trees only.
    pub(crate) project: RwLock<Option<String>>,
    /// Whether `project` was ever set: until then heads of trees skip its lock, whose read
    /// count two threads starting trees would otherwise pass back and forth.
    pub(crate) has_project: AtomicBool,
}

/// A shard's lock, on cache lines of its own: two threads working in neighbouring shards
/// would otherwise make each other's lock's line move between their cores at every event.
#[derive(Default)]
#[repr(align(128))]
struct ShardLock(Mutex<Shard>);

/// How much of a trace one exported tree holds; see [`Tracer::with_max_tree_depth`] and
/// [`Tracer::with_max_finished_children`]. Atomics, as clones share them and the builder
/// sets them after the handler exists; read relaxed, at export and as runs finish.
///
/// [`Tracer::with_max_tree_depth`]: crate::tracer::Tracer::with_max_tree_depth
/// [`Tracer::with_max_finished_children`]: crate::tracer::Tracer::with_max_finished_children
pub(crate) struct Limits {
    max_depth: AtomicUsize,
    max_finished_children: AtomicUsize,
}

impl Limits {
    pub(crate) const DEFAULT_MAX_DEPTH: usize = 100;
    pub(crate) const DEFAULT_MAX_FINISHED_CHILDREN: usize = 10_000;

    /// The most levels a piece holds, at least 1.
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth.load(Ordering::Relaxed)
    }

    pub(crate) fn set_max_depth(&self, levels: usize) {
        self.max_depth.store(levels.max(1), Ordering::Relaxed);
    }

    /// The most finished children a run holds while its tree is open.
    pub(crate) fn max_finished_children(&self) -> usize {
        self.max_finished_children.load(Ordering::Relaxed)
    }

    pub(crate) fn set_max_finished_children(&self, children: usize) {
        self.max_finished_children.store(children, Ordering::Relaxed);
    }
}

/// An index into a shard's arena.
type Slot = usize;

#[derive(Default)]
struct Shard {
    /// Every run in `runs`, by id: events address the open ones, and runs that start
    /// look their parent up here, ended or not.
    held: IdMap<Slot>,
    /// Every run of the trees whose roots are open, ended or not; `None` is a free slot.
    runs: Vec<Option<Run>>,
    /// The free slots of `runs`, reused before it grows.
    free: Vec<Slot>,
    /// The last start time handed out, in microseconds. Starts get strictly increasing
    /// times per shard, hence per tree: two runs started within one microsecond still sort
    /// in start order by dotted order, as LangSmith needs.
    last_start: i64,
    /// The stack of [`Shard::take_below`], empty between calls, kept for its memory.
    path: Vec<Frame>,
}

/// A run in the arena.
struct Run {
    /// Everything but `dotted_order` and `child_runs`, which are made at export.
    tree: RunTree,
    /// `tree.start_time` in microseconds, for dotted orders.
    start: i64,
    /// The slot of its parent; `None` for the head of a tree this tracer exports: a root, a
    /// run under a remote parent, or a piece of a trace (see the module's documentation).
    parent: Option<Slot>,
    /// The dotted order of its parent when the parent is not in the arena: in another process
    /// (see [`TraceContext`](crate::TraceContext)), or in a piece exported already. Its own
    /// dotted order extends it.
    parent_order: Option<Arc<str>>,
    /// The slots of its first and last child. Runs start in time order within a shard, so
    /// appending keeps children in start order, whatever order they end in.
    children: Option<(Slot, Slot)>,
    next_sibling: Option<Slot>,
    /// How many of its children are unfinished: open, or with an open run below them.
    unfinished: u32,
    /// How many of its children are finished: ended, with every run below them ended.
    finished: u32,
}

impl Run {
    /// Whether it and every run below it ended.
    fn is_finished(&self) -> bool {
        self.tree.end_time.is_some() && self.unfinished == 0
    }
}

/// A run being filled by [`Shard::take_below`].
struct Frame {
    /// Its index in its parent's `child_runs`.
    index: usize,
    /// The slot of its next child to take.
    next: Option<Slot>,
    /// Its dotted order, once a child of it was detached, for the next ones.
    detached_under: Option<Arc<str>>,
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
    pub(crate) project: Option<String>,
}

impl TracerCore {
    pub(crate) fn new(exporter: Box<dyn Exporter>) -> Self {
        let limits = Limits {
            max_depth: AtomicUsize::new(Limits::DEFAULT_MAX_DEPTH),
            max_finished_children: AtomicUsize::new(Limits::DEFAULT_MAX_FINISHED_CHILDREN),
        };
        TracerCore {
            shards: std::array::from_fn(|_| ShardLock::default()),
            exporter,
            limits,
            project: RwLock::new(None),
            has_project: AtomicBool::new(false),
        }
    }

    /// The address of this tracer's handler, as [`ambient`] tells handlers apart.
    fn address(&self) -> *const () {
        std::ptr::from_ref(self).cast()
    }

    fn shard(&self, trace_id: RunId) -> MutexGuard<'_, Shard> {
        // A trace's shard is its root's stripe: the trees a thread starts stay in memory
        // that thread wrote last.
        let index = trace_id.stripe() % SHARDS;
        // Shards are updated with no code between a change and its bookkeeping that can
        // panic, so a poisoned one still holds consistent trees.
        self.shards[index].0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counted, not kept: only tests and `Debug` ask, and a count would cost every event.
    pub(crate) fn open_runs(&self) -> usize {
        let open = |shard: &Shard| shard.runs.iter().flatten().filter(|run| run.tree.end_time.is_none()).count();
        self.shards.iter().map(|shard| open(&shard.0.lock().unwrap_or_else(PoisonError::into_inner))).sum()
    }

    /// Whether any tree held here has a run `run_id`: every shard, since the run may belong
    /// to any trace. Asked only before a run with a caller-chosen id starts.
    pub(crate) fn holds(&self, run_id: RunId) -> bool {
        self.shards
            .iter()
            .any(|shard| shard.0.lock().unwrap_or_else(PoisonError::into_inner).held.contains_key(&run_id))
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
            project: run.tree.session_name.clone(),
        })
    }

    fn start(&self, event: &Event<'_>, start: &RunStart<'_>) -> Result<(), TraceError> {
        let run = &*event.run;
        let Buffers { mut name, dotted_order, mut inputs, mut tags, events, child_runs } = spare::buffers();
        name.push_str(&run.name);
        kept_map::write_object(&start.inputs, &mut inputs, "input");
        tags.extend_from_slice(&start.tags);
        let mut metadata = start.metadata.to_map();
        let mut extra = Map::new();
        if let Some(request) = &start.model {
            model_request(request, &mut metadata, &mut extra);
        }
        let time = event.unix_micros();

        let mut shard = self.shard(run.trace_id);
        if shard.held.contains_key(&run.run_id) {
            return Err(TraceError::StartedTwice { run_id: run.run_id });
        }
        let micros = time.max(shard.last_start + 1);
        shard.last_start = micros;
        // A run under a remote parent is never stitched into a tree held here, even one
        // holding a run of that id: headers may name any run (a request of one tenant could
        // name a run in another's tree). It heads a tree of its own, under its remote parent.
        let parent = match run.parent_dotted_order {
            Some(_) => None,
            None => run.parent_run_id.and_then(|parent_id| shard.held.get(&parent_id).copied()),
        };
        let (parent_run_id, trace_id, parent_order) = match (run.parent_run_id, parent) {
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
        // All runs of a trace are in one project: the parent's, else the one the headers of a
        // remote parent named, else this tracer's.
        let session_name = match parent.and_then(|parent| shard.run(parent)) {
            Some(parent) => parent.tree.session_name.clone(),
            None => match &run.parent_project {
                Some(project) => Some(project.to_string()),
                None if self.has_project.load(Ordering::Acquire) => {
                    self.project.read().unwrap_or_else(PoisonError::into_inner).clone()
                }
                None => None,
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
            usage_metadata: None,
            extra,
            events,
            child_runs,
            session_name,
        };
        shard.insert(Run {
            tree,
            start: micros,
            parent,
            parent_order,
            children: None,
            next_sibling: None,
            unfinished: 0,
            finished: 0,
        });
        Ok(())
    }

    fn finish(&self, event: &Event<'_>, ending: Ending<'_>) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let time = event.unix_micros();
        let mut shard = self.shard(event.run.trace_id);
        let (slot, run) = shard.open_run(run_id, event)?;
        run.tree.end_time = Some(timestamp::from_micros(time.max(run.start)));
        match ending {
            Ending::Outputs(outputs, outcome) => {
                run.tree.outputs = Some(outputs);
                if let Some(outcome) = outcome {
                    model_outcome(outcome, &mut run.tree);
                }
            }
            Ending::Error(error) => run.tree.error = Some(error),
        }
        if run.parent.is_none() {
            // A head ended: its whole tree leaves memory now.
            return self.export(shard, event.run.trace_id, slot, Vec::new());
        }
        if run.unfinished > 0 {
            return Ok(());
        }
        let mut pieces = Vec::new();
        shard.settle(slot, self.limits.max_finished_children(), &mut pieces);
        pieces.reverse();
        match pieces.pop().and_then(|head| shard.held.get(&head).copied()) {
            Some(head) => self.export(shard, event.run.trace_id, head, pieces),
            None => Ok(()),
        }
    }

    /// Takes the tree headed by the run at `head` out of the arena and exports it, outside
    /// the lock, then each piece left to export: those its depth limit cut off, and
    /// `pieces`, heads of trees given up by their parents, last to export first.
    ///
    /// The exporter runs with this tracer left out of the runs it starts on this thread
    /// (see [`ambient::leaving_out`]): an exporter that calls traced code, a traced HTTP
    /// client, would otherwise trace its own export and export that, without end.
    fn export<'a>(
        &'a self,
        mut shard: MutexGuard<'a, Shard>,
        trace_id: RunId,
        mut head: Slot,
        mut pieces: Vec<RunId>,
    ) -> Result<(), TraceError> {
        let max_depth = self.limits.max_depth();
        let mut outcome = Ok(());
        loop {
            let found = pieces.len();
            let mut tree = shard.take_tree(head, max_depth, &mut pieces);
            // Found in start order, exported in start order.
            pieces[found..].reverse();
            if let Some(taken) = &mut tree {
                shard.forget(taken);
                drop(shard);
                let exported = ambient::leaving_out(self.address(), || self.exporter.export(taken));
                spare::recycle(taken);
                // Emptied: it owns nothing, and its drop glue was a visible share of the
                // tracer's time.
                std::mem::forget(tree);
                if outcome.is_ok() {
                    outcome = exported;
                }
                if pieces.is_empty() {
                    return Ok(outcome?);
                }
                shard = self.shard(trace_id);
            }
            // A piece that ended as a root meanwhile was exported on its own.
            head = loop {
                let Some(id) = pieces.pop() else { return Ok(outcome?) };
                if let Some(&slot) = shard.held.get(&id) {
                    break slot;
                }
            };
        }
    }

    /// Changes the run `event` is about, while it is open.
    fn update(&self, event: &Event<'_>, change: impl FnOnce(&mut RunTree)) -> Result<(), TraceError> {
        let mut shard = self.shard(event.run.trace_id);
        change(&mut shard.open_run(event.run.run_id, event)?.1.tree);
        Ok(())
    }

    fn record(&self, event: &Event<'_>, name: &str, kwargs: Map<String, Value>) -> Result<(), TraceError> {
        let run_id = event.run.run_id;
        let time = timestamp::from_micros(event.unix_micros());
        let mut shard = self.shard(event.run.trace_id);
        shard.open_run(run_id, event)?.1.tree.events.push(RunEvent::new(name, time, kwargs));
        Ok(())
    }
}

enum Ending<'e> {
    Outputs(Map<String, Value>, Option<&'e ModelOutcome>),
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
        if let Some(parent) = parent {
            self.adopt(parent, slot);
        }
        self.held.insert(id, slot);
    }

    /// Links the run at `child`, just started, as the last child of the run at `parent`.
    fn adopt(&mut self, parent: Slot, child: Slot) {
        let Some(run) = self.run_mut(parent) else { return };
        let (first, previous_last) = run.children.map_or((child, None), |(first, last)| (first, Some(last)));
        run.children = Some((first, child));
        let was_finished = run.is_finished();
        run.unfinished += 1;
        if let Some(previous_last) = previous_last.and_then(|last| self.run_mut(last)) {
            previous_last.next_sibling = Some(child);
        }
        if was_finished {
            self.reopen(parent);
        }
    }

    /// The run at `slot`, finished, has an open run below it again (a child that started
    /// after it ended): it is unfinished in its parent, and so on up while that was finished.
    fn reopen(&mut self, mut slot: Slot) {
        while let Some(parent) = self.run(slot).and_then(|run| run.parent) {
            let Some(run) = self.run_mut(parent) else { return };
            let was_finished = run.is_finished();
            run.finished = run.finished.saturating_sub(1);
            run.unfinished += 1;
            if !was_finished {
                return;
            }
            slot = parent;
        }
    }

    /// The run at `slot` just finished (it ended, and every run below it): it is finished
    /// in its parent, and so on up while that finishes with it. The first ancestor left
    /// unfinished, if it now holds more than `limit` finished children, gives them up (see
    /// [`give_up_finished`](Self::give_up_finished)); so, too, if it holds more than it holds
    /// unfinished ones, so that the walk over its children pays for itself.
    fn settle(&mut self, mut slot: Slot, limit: usize, pieces: &mut Vec<RunId>) {
        while let Some(parent) = self.run(slot).and_then(|run| run.parent) {
            let Some(run) = self.run_mut(parent) else { return };
            run.unfinished = run.unfinished.saturating_sub(1);
            run.finished += 1;
            if run.is_finished() {
                slot = parent;
                continue;
            }
            if run.finished as usize > limit.max(run.unfinished as usize) {
                self.give_up_finished(parent, pieces);
            }
            return;
        }
    }

    /// Detaches the finished children of the run at `parent` from it, each to head a tree of
    /// its own under it (its `parent_run_id` and dotted order as they were), and pushes
    /// their ids onto `pieces`, in start order. Its unfinished children stay, in order.
    fn give_up_finished(&mut self, parent: Slot, pieces: &mut Vec<RunId>) {
        let order: Arc<str> = self.dotted_order(parent).into();
        let Some(run) = self.run_mut(parent) else { return };
        run.finished = 0;
        let mut next = run.children.map(|(first, _)| first);
        let mut kept: Option<(Slot, Slot)> = None;
        while let Some(slot) = next {
            let Some(child) = self.run_mut(slot) else { break };
            next = child.next_sibling.take();
            if child.is_finished() {
                child.parent = None;
                child.parent_order = Some(Arc::clone(&order));
                pieces.push(child.tree.id);
                continue;
            }
            kept = Some(match kept {
                None => (slot, slot),
                Some((first, last)) => {
                    if let Some(last) = self.run_mut(last) {
                        last.next_sibling = Some(slot);
                    }
                    (first, slot)
                }
            });
        }
        if let Some(run) = self.run_mut(parent) {
            run.children = kept;
        }
    }

    /// Takes the tree headed by the run at `head` (whose parent is not in the arena) out of
    /// the arena, down to `max_depth` levels, freeing its slots; [`forget`] its ids next.
    /// The runs one level further stay, each heading a piece of its own (see [`detach`]),
    /// their ids pushed onto `pieces` in start order. Children still open are taken as they
    /// are (no end time): a tree is final when its head ends.
    ///
    /// [`forget`]: Self::forget
    fn take_tree(&mut self, head: Slot, max_depth: usize, pieces: &mut Vec<RunId>) -> Option<RunTree> {
        let Run { mut tree, start, parent_order, children, .. } = self.runs.get_mut(head)?.take()?;
        self.free.push(head);
        dotted_order::write(&mut tree.dotted_order, parent_order.as_deref().unwrap_or_default(), start, tree.id);
        self.take_children(children.map(|(first, _)| first), &mut tree, 1, max_depth, pieces);
        Some(tree)
    }

    /// Moves the runs from `first` on, children of `parent` (at `level`), with their
    /// descendants, out of the arena into `parent`, writing each one's dotted order from its
    /// parent's. Each run is moved once, straight into its parent's vector: a run is some 450
    /// bytes, and copies of it were a visible share of the tracer's time.
    ///
    /// A frame per level for the first [`RECURSIVE_LEVELS`], the cheaper way (the `tracer`
    /// row of `benches/instructions.sh`); below, the loop of [`take_below`](Self::take_below),
    /// as trees may be deeper than the thread's stack.
    fn take_children(
        &mut self,
        first: Option<Slot>,
        parent: &mut RunTree,
        level: usize,
        max_depth: usize,
        pieces: &mut Vec<RunId>,
    ) {
        if level >= max_depth {
            let mut shared = None;
            let mut next = first;
            while let Some(child) = next.and_then(|slot| self.run_mut(slot)) {
                next = detach(child, parent, &mut shared, pieces);
            }
            return;
        }
        if level >= RECURSIVE_LEVELS {
            return self.take_below(first, parent, level, max_depth, pieces);
        }
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
                self.take_children(children.map(|(first, _)| first), child, level + 1, max_depth, pieces);
            }
        }
    }

    /// [`take_children`](Self::take_children) as a loop, for the levels below `top`, at
    /// `level`: the runs being filled are found from `top` by their indices, a step per
    /// level for each run taken, and no frame on the thread's stack.
    fn take_below(
        &mut self,
        first: Option<Slot>,
        top: &mut RunTree,
        level: usize,
        max_depth: usize,
        pieces: &mut Vec<RunId>,
    ) {
        top.child_runs.reserve_exact(self.siblings(first).count());
        // One frame per run being filled, from `top` down: its index in its parent's
        // vector (unused for `top`), the slot of its next child to take, and the dotted
        // order its detached children share.
        let mut path = std::mem::take(&mut self.path);
        path.push(Frame { index: 0, next: first, detached_under: None });
        while let Some(frame) = path.last_mut() {
            let Some(slot) = frame.next else {
                path.pop();
                continue;
            };
            let filling = level + path.len() - 1;
            let Some(parent) = filled(top, &path) else { break };
            if filling >= max_depth {
                let (Some(child), Some(frame)) = (self.runs.get_mut(slot).and_then(Option::as_mut), path.last_mut())
                else {
                    break;
                };
                frame.next = detach(child, parent, &mut frame.detached_under, pieces);
                continue;
            }
            let Some(run) = self.runs.get_mut(slot).and_then(Option::take) else { break };
            self.free.push(slot);
            let first = run.children.map(|(first, _)| first);
            let count = if filling + 1 < max_depth { self.siblings(first).count() } else { 0 };
            let (start, next_sibling) = (run.start, run.next_sibling);
            parent.child_runs.push(run.tree);
            let index = parent.child_runs.len() - 1;
            if let Some(child) = parent.child_runs.get_mut(index) {
                dotted_order::write(&mut child.dotted_order, &parent.dotted_order, start, child.id);
                child.child_runs.reserve_exact(count);
            }
            if let Some(frame) = path.last_mut() {
                frame.next = next_sibling;
            }
            if first.is_some() {
                path.push(Frame { index, next: first, detached_under: None });
            }
        }
        path.clear();
        path.shrink_to(MIN_SLOTS);
        self.path = path;
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
            for run in tree.runs() {
                self.held.remove(&run.id);
            }
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
        let prefix = path.last().and_then(|head| head.parent_order.as_deref()).unwrap_or_default();
        let mut order = String::with_capacity(prefix.len() + path.len() * (1 + SEGMENT_LEN));
        order.push_str(prefix);
        for run in path.iter().rev() {
            push_segment(&mut order, run.start, run.tree.id);
        }
        order
    }
}

/// The run being filled that `path` leads to from `top`, the run of its first frame.
fn filled<'t>(top: &'t mut RunTree, path: &[Frame]) -> Option<&'t mut RunTree> {
    path.get(1..)?.iter().try_fold(top, |run, frame| run.child_runs.get_mut(frame.index))
}

/// Leaves `child`, a run one level below the depth limit under `parent`, in the arena as
/// the head of a piece: with its parent's dotted order, shared among its siblings through
/// `shared`, and its id pushed onto `pieces`. Gives the slot of its next sibling.
fn detach(child: &mut Run, parent: &RunTree, shared: &mut Option<Arc<str>>, pieces: &mut Vec<RunId>) -> Option<Slot> {
    let order = shared.get_or_insert_with(|| parent.dotted_order.as_str().into());
    child.parent = None;
    child.parent_order = Some(Arc::clone(order));
    pieces.push(child.tree.id);
    child.next_sibling.take()
}

/// A model run's request in LangSmith's places: the model and provider as `ls_model_name`
/// and `ls_provider` metadata, its parameters as `extra.invocation_params`, its messages as
/// `extra.input_messages`.
fn model_request(request: &ModelRequest, metadata: &mut Map<String, Value>, extra: &mut Map<String, Value>) {
    if let Some(model) = &request.model {
        metadata.insert("ls_model_name".to_owned(), json!(model));
    }
    if let Some(provider) = &request.provider {
        metadata.insert("ls_provider".to_owned(), json!(provider));
    }
    if !request.params.is_empty() {
        extra.insert("invocation_params".to_owned(), Value::Object(request.params.clone()));
    }
    if !request.messages.is_empty() {
        extra.insert("input_messages".to_owned(), json!(request.messages));
    }
}

/// What a model run ended with: its usage as `usage_metadata`, its response and time to first
/// token in `extra`.
fn model_outcome(outcome: &ModelOutcome, tree: &mut RunTree) {
    if let Some(usage) = outcome.usage {
        tree.usage_metadata = Some(usage);
    }
    if let Some(response) = &outcome.response {
        tree.extra.insert("response".to_owned(), json!(response));
    }
    if let Some(first) = outcome.time_to_first_token {
        tree.extra.insert("time_to_first_token".to_owned(), json!(first.as_secs_f64()));
    }
}

fn object(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Map<String, Value> {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

impl CallbackHandler for TracerCore {
    fn holds_run(&self, run_id: RunId) -> bool {
        self.holds(run_id)
    }

    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        // What this tracer's exporter runs on this thread is not traced by it: see `export`.
        if ambient::is_left_out(self.address()) {
            return Ok(());
        }
        let outcome = match &event.data {
            EventData::Start(start) => self.start(event, start),
            EventData::End(end) => {
                let mut outputs = spare::output_map();
                kept_map::write_object(&end.outputs, &mut outputs, "output");
                self.finish(event, Ending::Outputs(outputs, end.model.as_deref()))
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
            // The last usage reported stands, a failed run's too; late metadata joins the rest.
            EventData::Usage(usage) => self.update(event, |tree| tree.usage_metadata = Some(*usage)),
            EventData::Metadata(metadata) => self.update(event, |tree| tree.metadata.extend(metadata.to_map())),
        };
        outcome.map_err(Into::into)
    }

    fn name(&self) -> &str {
        "runtrace::Tracer"
    }
}
