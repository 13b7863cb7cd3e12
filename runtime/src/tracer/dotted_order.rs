//! One segment of LangSmith's dotted order: a run's start time in the compact form, then its
//! id (`20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10`). A run's dotted order is
//! its trace root's segment, then `.` and each descendant's down to its own.

use std::time::SystemTime;

use super::timestamp;
use crate::event::RunId;

/// The length of one segment: a compact timestamp and a hyphenated UUID.
pub(crate) const SEGMENT_LEN: usize = timestamp::COMPACT_LEN + uuid::fmt::Hyphenated::LENGTH;

/// Appends the segment of the run `id` started at `start` (microseconds since the epoch) to
/// the dotted order `order`, after a `.` unless `order` is empty.
pub(crate) fn push_segment(order: &mut String, start: i64, id: RunId) {
    if !order.is_empty() {
        order.push('.');
    }
    timestamp::write_compact(order, start);
    order.push_str(id.as_uuid().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
}

/// Writes into `order`, empty, the dotted order of the run `id` started at `start`, under a
/// parent whose dotted order is `parent` (empty for a root).
pub(crate) fn write(order: &mut String, parent: &str, start: i64, id: RunId) {
    order.reserve(parent.len() + 1 + SEGMENT_LEN);
    order.push_str(parent);
    push_segment(order, start, id);
}

/// The dotted order of the run `id` started at `start`, under a parent whose dotted order is
/// `parent` (empty for a root): for exporters that build LangSmith's ids from events rather
/// than from [`RunTree`](super::RunTree)s, which carry theirs.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use runtrace_runtime::RunId;
/// use runtrace_runtime::tracer::dotted_order;
///
/// let start = UNIX_EPOCH + Duration::from_micros(1_714_979_289_123_456);
/// let root: RunId = "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10".parse().unwrap();
/// let child: RunId = "5c1e8c7e-0d5c-4a43-9d3a-2f1d6e1c9a11".parse().unwrap();
/// let root_order = dotted_order("", start, root);
/// assert_eq!(root_order, "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
/// let child_order = dotted_order(&root_order, start + Duration::from_micros(1), child);
/// assert_eq!(child_order, format!("{root_order}.20240506T070809123457Z{child}"));
/// ```
#[must_use]
pub fn dotted_order(parent: &str, start: SystemTime, id: RunId) -> String {
    let mut order = String::new();
    write(&mut order, parent, timestamp::to_micros(start), id);
    order
}

/// Reads one segment strictly, naming what is wrong with it.
pub(crate) fn parse_segment(segment: &str) -> Result<RunId, &'static str> {
    if segment.is_empty() {
        return Err("it is empty");
    }
    if segment.len() != SEGMENT_LEN {
        return Err("it is not a 22-character timestamp followed by a 36-character run id");
    }
    // `get` rather than indexing: a multi-byte character across the split is an error, not a panic.
    let (Some(time), Some(id)) = (segment.get(..timestamp::COMPACT_LEN), segment.get(timestamp::COMPACT_LEN..)) else {
        return Err("it is not ASCII");
    };
    if timestamp::parse_compact(time).is_none() {
        return Err("its timestamp is not a valid %Y%m%dT%H%M%S%fZ UTC time");
    }
    id.parse::<RunId>().map_err(|_| "its run id is not a hyphenated UUID")
}
