//! The handler [`stream_events`](super::stream_events) adds to the call's callbacks: it turns
//! the call's events into [`StandardEvent`]s and queues them for the stream, in the order the
//! call emitted them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::standard_event::{Phase, StandardEvent};
use crate::event::{CustomEvent, Event, Metadata, RunEnd, RunError, RunId, RunStart, Tags};
use crate::handler::{CallbackHandler, HandlerResult};

/// What later events of a run need from its start: LangChain's events repeat the run's tags
/// and metadata on every event, and `parent_ids` needs the ancestors seen so far.
struct Lineage {
    parent_ids: Vec<RunId>,
    tags: Tags,
    metadata: Metadata,
}

/// One per streamed call, so the lock below is never shared by two calls.
pub(super) struct Collector {
    /// Unbounded: the call never waits on its reader, and a dropped event would break the
    /// promise that every start has its end; the reader drains it as fast as it polls.
    sender: UnboundedSender<StandardEvent>,
    runs: Mutex<HashMap<RunId, Arc<Lineage>>>,
    root: Arc<OnceLock<RunId>>,
}

impl Collector {
    pub(super) fn new(sender: UnboundedSender<StandardEvent>, root: Arc<OnceLock<RunId>>) -> Self {
        Collector { sender, runs: Mutex::default(), root }
    }

    fn lineage(&self, run_id: RunId) -> Option<Arc<Lineage>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner).get(&run_id).cloned()
    }

    fn send(&self, event: &Event<'_>, lineage: &Lineage, event_name: String, name: Cow<'static, str>, data: Value) {
        let run = &*event.run;
        // The reader is gone only when the stream was dropped, which drops the call too:
        // what is left to send has no one to read it.
        let _ = self.sender.send(StandardEvent {
            event: event_name,
            name,
            run_id: run.run_id,
            parent_ids: lineage.parent_ids.clone(),
            kind: run.kind,
            tags: lineage.tags.clone(),
            metadata: lineage.metadata.clone(),
            data,
        });
    }

    /// A run-scoped event of a run this collector saw start; others (a run started before the
    /// collector was added) are not the call's and are skipped.
    fn send_phase(&self, event: &Event<'_>, phase: Phase, data: Value) {
        if let Some(lineage) = self.lineage(event.run.run_id) {
            self.send(event, &lineage, phase.event_name(event.run.kind), event.run.name.clone(), data);
        }
    }

    fn finish(&self, event: &Event<'_>, phase: Phase, data: Value) {
        let lineage = self.runs.lock().unwrap_or_else(PoisonError::into_inner).remove(&event.run.run_id);
        if let Some(lineage) = lineage {
            self.send(event, &lineage, phase.event_name(event.run.kind), event.run.name.clone(), data);
        }
    }
}

impl CallbackHandler for Collector {
    fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
        let run = &*event.run;
        let lineage = {
            let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
            // As LangChain's: ancestors are the runs of this call, so the call's root has none,
            // even when the call itself is nested in a run of the caller's.
            let parent_ids =
                match run.parent_run_id.and_then(|parent| runs.get(&parent).map(|lineage| (parent, lineage))) {
                    Some((parent, lineage)) => lineage.parent_ids.iter().copied().chain([parent]).collect(),
                    None => Vec::new(),
                };
            let lineage = Arc::new(Lineage { parent_ids, tags: start.tags.clone(), metadata: start.metadata.clone() });
            runs.insert(run.run_id, Arc::clone(&lineage));
            lineage
        };
        if lineage.parent_ids.is_empty() {
            let _ = self.root.set(run.run_id);
        }
        self.send(
            event,
            &lineage,
            Phase::Start.event_name(run.kind),
            run.name.clone(),
            json!({ "input": start.inputs.get() }),
        );
        Ok(())
    }

    fn on_llm_new_token(&self, event: &Event<'_>, token: &str) -> HandlerResult {
        self.send_phase(event, Phase::Stream, json!({ "chunk": token }));
        Ok(())
    }

    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        self.finish(event, Phase::End, json!({ "output": end.outputs.get() }));
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, error: &RunError) -> HandlerResult {
        self.finish(event, Phase::Error, json!({ "error": error.message, "cause": error.cause }));
        Ok(())
    }

    fn on_custom_event(&self, event: &Event<'_>, custom: &CustomEvent) -> HandlerResult {
        if let Some(lineage) = self.lineage(event.run.run_id) {
            let name = Cow::Owned(custom.name.clone());
            self.send(event, &lineage, "on_custom_event".to_owned(), name, custom.data.clone());
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "stream_events"
    }
}
