//! [`HeaderError`]: why a trace context could not be read from headers, or written from a run.

use crate::event::RunId;

/// Why a trace context could not be read from headers, or written from a run.
///
/// Only `langsmith-trace` can make reading fail: what cannot be read in `baggage` is skipped
/// (see [`TraceContext::from_headers`](super::TraceContext::from_headers)). Messages name the
/// header and the position of the fault, never echo the header's content.
///
/// ```
/// use runtrace_runtime::propagation::{HeaderError, TraceContext};
///
/// let error = TraceContext::from_headers([("langsmith-trace", "not a dotted order")]).unwrap_err();
/// assert!(matches!(error, HeaderError::InvalidTrace { segment: 0, .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// There is no `langsmith-trace` header, or it is empty: the request carries no trace.
    #[error("no `langsmith-trace` header: the request carries no trace to join")]
    MissingTrace,
    /// `langsmith-trace` was given more than once.
    #[error("`langsmith-trace` was given more than once")]
    RepeatedTrace,
    /// `langsmith-trace`, or the dotted order of the run it is to be written from, is longer
    /// than [`TraceContext::MAX_TRACE_LEN`](super::TraceContext::MAX_TRACE_LEN).
    #[error("the `{header}` header is {len} bytes, over the {max} accepted")]
    TooLong {
        /// The header's name.
        header: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most accepted.
        max: usize,
    },
    /// A segment of the dotted order is not `<%Y%m%dT%H%M%S%fZ timestamp><uuid>`.
    #[error("segment {segment} of `langsmith-trace` is malformed: {problem}")]
    InvalidTrace {
        /// Which segment, from 0 (the root).
        segment: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Two segments of the dotted order name the same run.
    #[error("segment {segment} of `langsmith-trace` repeats the id of an earlier one")]
    RepeatedRunId {
        /// The repeating segment, from 0.
        segment: usize,
    },
    /// The run is a no-op run (no handlers): it has no id to continue from.
    #[error("the run has no handlers, so no id or trace to send: add a Tracer to its callbacks")]
    NotRecording,
    /// No tracer holds the run, so it has no dotted order.
    #[error(
        "no tracer holds run {run_id}: add a Tracer to its callbacks (or trace its block), and write the headers \
         before the run ends"
    )]
    Untraced {
        /// The run.
        run_id: RunId,
    },
}
