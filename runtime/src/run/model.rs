//! What a model run keeps while it runs: when it started, when its first token came, and
//! the last usage and response it reported, for its end event.
//!
//! Only `llm`, `chat_model` and `embedding` runs that a handler hears get one, so other runs
//! pay nothing for it; its lock is taken only when the run reports usage or a response.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::event::{ModelOutcome, ModelResponse, RunKind, Usage};

pub(crate) struct ModelState {
    started: Instant,
    /// Nanoseconds from `started` to the first token, plus one; 0 until a token came.
    first_token: AtomicU64,
    reported: Mutex<Reported>,
    ended: AtomicBool,
}

#[derive(Default)]
struct Reported {
    usage: Option<Usage>,
    response: Option<ModelResponse>,
}

impl ModelState {
    /// The state of a run of `kind` that starts now, if it is a model run.
    pub(crate) fn for_kind(kind: RunKind) -> Option<Box<ModelState>> {
        matches!(kind, RunKind::Llm | RunKind::ChatModel | RunKind::Embedding).then(|| {
            Box::new(ModelState {
                started: Instant::now(),
                first_token: AtomicU64::new(0),
                reported: Mutex::default(),
                ended: AtomicBool::new(false),
            })
        })
    }

    /// Notes a streamed token: the first one fixes the time to first token.
    pub(crate) fn token(&self) {
        if self.first_token.load(Ordering::Relaxed) == 0 {
            let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
            let _ = self.first_token.compare_exchange(0, nanos, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Keeps `usage` as the run's usage, replacing an earlier report. `false` once the run
    /// ended: the report is too late for its end event.
    pub(crate) fn report_usage(&self, usage: Usage) -> bool {
        self.report(|reported| reported.usage = Some(usage))
    }

    /// Keeps `response` as the run's response, replacing an earlier one; `false` once ended.
    pub(crate) fn report_response(&self, response: ModelResponse) -> bool {
        self.report(|reported| reported.response = Some(response))
    }

    fn report(&self, keep: impl FnOnce(&mut Reported)) -> bool {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if self.ended.load(Ordering::Relaxed) {
            return false;
        }
        keep(&mut reported);
        true
    }

    /// What the run ended with; later reports are refused.
    pub(crate) fn end(&self) -> ModelOutcome {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        self.ended.store(true, Ordering::Relaxed);
        let first_token = self.first_token.load(Ordering::Relaxed);
        ModelOutcome {
            response: reported.response.take(),
            usage: reported.usage.take(),
            time_to_first_token: first_token.checked_sub(1).map(Duration::from_nanos),
        }
    }
}
