//! Run trees as deep as the code that made them: a loop that starts each run under the last
//! one makes a tree thousands of levels deep with no recursion in user code, so nothing that
//! walks a [`RunTree`] may spend a stack frame per level on the caller's stack.
//!
//! The tracer's own walks (assembling, exporting, recycling, drawing) keep their own stack
//! of runs on the heap. What cannot, because serde's and `fmt`'s traits nest by design
//! (`Serialize`, `Deserialize`, `Debug`, `Clone` and `PartialEq` of `child_runs`), goes
//! through [`grow`]: it continues on a new stack segment, allocated by `stacker`, once the
//! current one is nearly used up. `Drop` is a loop (see `RunTree`'s), as it runs where a
//! failed allocation could not be reported.
//!
//! Reading JSON needs more: serde_json refuses input nested more than 128 levels (a tree 63
//! runs deep, or one input value nested 130 levels), so the reader turns that limit off and
//! wraps its parser in `serde_stacker`, which grows the stack at every level of any value,
//! the user's inputs included. An iterative reader of run levels alone would still recurse
//! through those inputs. A line of `n` bytes nests at most `n` levels, so what the reader
//! allocates for stacks is bounded by the line it reads.
//!
//! Removing it: derive the traits again and call serde_json directly; the depth tests in
//! `tests/runtime/deep_trees.rs` say what breaks.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::run_tree::RunTree;

/// How close to the end of its stack a walk may get before it continues on a new segment:
/// enough for one level of a tree in a debug build, with its serializer's frames and some
/// nesting of the user's values.
pub(crate) const RED_ZONE: usize = 256 * 1024;

/// The size of each new segment: some hundreds of levels.
pub(crate) const SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `step`, one level of a walk over a tree, on a new stack segment if this one is
/// nearly used up.
pub(crate) fn grow<R>(step: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, step)
}

/// `child_runs` written with [`grow`] (serde's `serialize_with`).
pub(crate) fn serialize_children<S: Serializer>(children: &[RunTree], serializer: S) -> Result<S::Ok, S::Error> {
    grow(|| children.serialize(serializer))
}

/// `child_runs` read with [`grow`] (serde's `deserialize_with`).
pub(crate) fn deserialize_children<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RunTree>, D::Error> {
    grow(|| Vec::deserialize(deserializer))
}

/// Serializes `tree` as JSON, growing the stack at every level of every value in it.
pub(crate) fn to_json(tree: &RunTree) -> Result<Vec<u8>, serde_json::Error> {
    let mut json = Vec::with_capacity(1024);
    let mut serializer = serde_json::Serializer::new(&mut json);
    let mut stacker = serde_stacker::Serializer::new(&mut serializer);
    stacker.red_zone = RED_ZONE;
    stacker.stack_size = SEGMENT;
    tree.serialize(stacker)?;
    Ok(json)
}

/// Reads one tree from JSON text at any depth (see the module's documentation).
pub(crate) fn from_json(json: &[u8]) -> Result<RunTree, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer.disable_recursion_limit();
    let mut stacker = serde_stacker::Deserializer::new(&mut deserializer);
    stacker.red_zone = RED_ZONE;
    stacker.stack_size = SEGMENT;
    let tree = RunTree::deserialize(stacker)?;
    deserializer.end()?;
    Ok(tree)
}
