//! [`SuppliedId`]: a run id the caller chose, given to one run only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dispatch::RegisteredHandler;
use crate::error::CallbackError;
use crate::event::RunId;

/// Shared by a manager's clones, so that one run among everything started from them gets
/// the id: two runs with one id would be one run to a tracer, and a corrupted tree.
#[derive(Clone, Debug)]
pub(crate) struct SuppliedId(Arc<Supplied>);

#[derive(Debug)]
struct Supplied {
    run_id: RunId,
    taken: AtomicBool,
}

impl SuppliedId {
    pub(crate) fn new(run_id: RunId) -> Self {
        SuppliedId(Arc::new(Supplied { run_id, taken: AtomicBool::new(false) }))
    }

    /// The id for the run about to start: the supplied one the first time, a fresh one after.
    ///
    /// # Errors
    ///
    /// [`CallbackError::RunIdInUse`] when one of `handlers` holds a run with that id still.
    pub(crate) fn claim(&self, handlers: &[RegisteredHandler]) -> Result<RunId, CallbackError> {
        if self.0.taken.swap(true, Ordering::AcqRel) {
            return Ok(RunId::random());
        }
        let run_id = self.0.run_id;
        match handlers.iter().find(|handler| handler.holds_run(run_id)) {
            Some(handler) => Err(CallbackError::RunIdInUse { run_id, handler: handler.name().to_owned() }),
            None => Ok(run_id),
        }
    }

    pub(crate) fn run_id(&self) -> RunId {
        self.0.run_id
    }
}
