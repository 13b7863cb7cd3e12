//! Buffers of exported trees, written over by the runs that start next on the same thread.
//!
//! A tree's strings, vectors and JSON maps would otherwise be freed right after its export
//! and allocated again for the next tree: about seven allocations and frees a run, the
//! tracer's largest cost. Exported trees are taken apart here instead, and a run that starts
//! takes the buffers of one: its name, dotted order, inputs, tags, events and children's
//! vector. An input or output map keeps its nodes and keys when the new value has the same
//! keys, as the next call of the same function does, and then costs no allocation at all.
//!
//! Per thread, so taking and giving back never meets a lock or another thread. Bounded: a
//! thread keeps at most [`MAX_SPARES`] runs' buffers and as many output maps, emptied of the
//! user's values, each name with room for at most [`MAX_KEPT_LEN`] bytes, each dotted order for [`MAX_KEPT_ORDER_LEN`] and each vector
//! for at most [`MAX_KEPT_CAPACITY`] items. No value of a prompt or output stays behind, nor
//! a long run name. What does is the keys of input and output maps that have at most
//! [`MAX_KEPT_CAPACITY`] of them, as reuse needs them: as a rule the names of a function's
//! arguments or fields, though a map keyed by the user's data keeps those keys.

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::dotted_order::SEGMENT_LEN;
use super::run_tree::{RunEvent, RunTree};

/// The most buffers of each kind a thread keeps.
const MAX_SPARES: usize = 64;

/// The most levels of a tree whose runs are kept: as many as the deepest tree a thread
/// commonly makes, agents calling chains calling tools, so that depth costs no allocation.
const MAX_KEPT_DEPTH: usize = 32;

/// The most children, events or tags a kept vector has room for, and keys a kept map has:
/// more would keep a large buffer alive for the sake of a rare wide tree.
const MAX_KEPT_CAPACITY: usize = 16;

/// The most bytes a kept name has room for, so that a rare huge name does not stay behind.
const MAX_KEPT_LEN: usize = 4 * (1 + SEGMENT_LEN);

/// The most bytes a kept dotted order has room for: one [`MAX_KEPT_DEPTH`] levels deep, as
/// a run that deep writes its ancestors' segments before its own.
const MAX_KEPT_ORDER_LEN: usize = MAX_KEPT_DEPTH * (1 + SEGMENT_LEN);

thread_local! {
    static SPARES: RefCell<Spares> = const { RefCell::new(Spares { runs: Vec::new(), outputs: Vec::new() }) };
}

struct Spares {
    /// In reverse start order of the tree they came from, so runs started in the same shape
    /// take the buffers of their counterparts, whose maps have their keys.
    runs: Vec<Buffers>,
    outputs: Vec<Map<String, Value>>,
}

/// The reusable parts of one run: all empty, but for the keys of `inputs`.
#[derive(Default)]
pub(crate) struct Buffers {
    pub(crate) name: String,
    pub(crate) dotted_order: String,
    pub(crate) inputs: Map<String, Value>,
    pub(crate) tags: Vec<String>,
    pub(crate) events: Vec<RunEvent>,
    pub(crate) child_runs: Vec<RunTree>,
}

/// Buffers for a run that starts: kept ones if this thread has some, else new (empty) ones.
pub(crate) fn buffers() -> Buffers {
    SPARES.try_with(|spares| spares.try_borrow_mut().ok()?.runs.pop()).ok().flatten().unwrap_or_default()
}

/// A map for a run's outputs: a kept one (with its keys) if this thread has one, else a new one.
pub(crate) fn output_map() -> Map<String, Value> {
    SPARES.try_with(|spares| spares.try_borrow_mut().ok()?.outputs.pop()).ok().flatten().unwrap_or_default()
}

/// Takes the buffers of an exported tree for the next runs of this thread, leaving it
/// empty: it owns nothing after, and its owner may forget it rather than drop it.
pub(crate) fn recycle(tree: &mut RunTree) {
    let kept = SPARES.try_with(|spares| match spares.try_borrow_mut() {
        Ok(mut spares) => {
            spares.keep(tree, 0);
            true
        }
        Err(_) => false,
    });
    if kept != Ok(true) {
        // This thread's spares are gone or in use: the buffers are dropped with these.
        Spares { runs: Vec::new(), outputs: Vec::new() }.keep(tree, 0);
    }
}

impl Spares {
    /// Takes `tree`, at `depth` levels below the exported tree's root, apart, leaving it
    /// empty: it owns nothing after, and its owner may forget it. Children first and
    /// last to first, so that this run's buffers are taken first, then its children's, in
    /// start order. Below [`MAX_KEPT_DEPTH`] levels runs are dropped, not kept: the next
    /// trees take the buffers of the top levels first, a thread keeps [`MAX_SPARES`] at
    /// most, and so the recursion stays shallow however deep the tree (`RunTree`'s own
    /// `Drop` is a loop).
    fn keep(&mut self, tree: &mut RunTree, depth: usize) {
        // Exhaustive, so that a field added to `RunTree` fails to compile here until it is
        // taken below: a field left in would leak.
        let RunTree {
            id: _,
            trace_id: _,
            parent_run_id: _,
            dotted_order,
            name,
            run_type: _,
            start_time: _,
            end_time: _,
            inputs,
            outputs,
            error,
            tags,
            metadata,
            usage_metadata,
            extra,
            events,
            child_runs,
            session_name,
        } = tree;
        if depth < MAX_KEPT_DEPTH {
            for child in child_runs.iter_mut().rev() {
                self.keep(child, depth + 1);
            }
            // Emptied by `keep`: see `recycle`.
            child_runs.drain(..).for_each(std::mem::forget);
        }
        let mut child_runs = std::mem::take(child_runs);
        child_runs.clear();
        drop((
            error.take(),
            std::mem::take(metadata),
            usage_metadata.take(),
            std::mem::take(extra),
            session_name.take(),
        ));
        if let Some(mut outputs) = outputs.take().filter(|_| self.outputs.len() < MAX_SPARES) {
            forget_values(&mut outputs);
            self.outputs.push(outputs);
        }
        let (mut dotted_order, mut name) = (std::mem::take(dotted_order), std::mem::take(name));
        let (mut inputs, mut tags, mut events) = (std::mem::take(inputs), std::mem::take(tags), std::mem::take(events));
        if self.runs.len() < MAX_SPARES {
            dotted_order.clear();
            dotted_order.shrink_to(MAX_KEPT_ORDER_LEN);
            name.clear();
            name.shrink_to(MAX_KEPT_LEN);
            forget_values(&mut inputs);
            tags.clear();
            tags.shrink_to(MAX_KEPT_CAPACITY);
            events.clear();
            events.shrink_to(MAX_KEPT_CAPACITY);
            child_runs.shrink_to(MAX_KEPT_CAPACITY);
            self.runs.push(Buffers { name, dotted_order, inputs, tags, events, child_runs });
        }
    }
}

/// Drops the values of `map`, keeping its keys and nodes for the next run's (see
/// `kept_map::write_object`) unless it has so many that
/// keeping them would cost more memory than reuse saves.
fn forget_values(map: &mut Map<String, Value>) {
    if map.len() > MAX_KEPT_CAPACITY {
        map.clear();
    }
    map.values_mut().for_each(|value| *value = Value::Null);
}
