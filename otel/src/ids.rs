//! One identity everywhere: the OpenTelemetry ids of a run, derived from its runtrace ids.
//!
//! A run's trace id is its root run's 128-bit id, the `trace_id` that JSON Lines trees and
//! `langsmith-trace` headers carry, so one trace has one id in every backend. Its span id is
//! the low 64 bits of its run id: the random end of the id (runtrace draws random ids; in a
//! time-ordered v7 id the low half is the random part too), so two siblings started in the
//! same millisecond never share a span id, where the high half of a v7 id would. The low
//! half holds the UUID variant bits, so a span id is never the invalid all-zero id.

use opentelemetry::trace::{SpanId, TraceId};
use runtrace_runtime::RunId;

/// The OpenTelemetry trace id of a tree whose root run is `root`: its 128 bits as they are.
///
/// ```
/// use runtrace_runtime::RunId;
///
/// let root: RunId = "0195f0c2-7a3e-7c41-9d3a-2f1d6e1c9a10".parse()?;
/// assert_eq!(runtrace_otel::trace_id_of(root).to_string(), "0195f0c27a3e7c419d3a2f1d6e1c9a10");
/// # Ok::<(), uuid::Error>(())
/// ```
#[must_use]
pub fn trace_id_of(root: RunId) -> TraceId {
    TraceId::from_bytes(*root.as_uuid().as_bytes())
}

/// The OpenTelemetry span id of the run `run`: the low 64 bits of its id.
///
/// ```
/// use runtrace_runtime::RunId;
///
/// let run: RunId = "0195f0c2-7a3e-7c41-9d3a-2f1d6e1c9a10".parse()?;
/// assert_eq!(runtrace_otel::span_id_of(run).to_string(), "9d3a2f1d6e1c9a10");
/// # Ok::<(), uuid::Error>(())
/// ```
#[must_use]
pub fn span_id_of(run: RunId) -> SpanId {
    let (_, low) = run.as_uuid().as_u64_pair();
    SpanId::from_bytes(low.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_are_never_invalid() {
        for _ in 0..1000 {
            assert_ne!(span_id_of(RunId::random()), SpanId::INVALID);
        }
    }
}
