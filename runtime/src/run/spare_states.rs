//! Run states kept for the next runs of the same thread.
//!
//! Each heard run's state is one shared allocation, and a tree holds one per level while
//! it runs. The system allocator's per-thread cache of small blocks holds only a few of a
//! size (seven in glibc's), so in a tree deeper than that every start and end of a run went
//! to the allocator's slow paths, and a run 30 levels deep cost more than one 3 levels deep.
//! A run that ends with no clone of its manager left gives its state here, emptied, and the
//! next run of the thread writes over it instead of allocating.
//!
//! Per thread, so taking and giving back meets no lock; bounded by [`MAX_SPARES`]. An
//! emptied state holds no handler, tag, name or model data of the run it was.

use std::cell::RefCell;
use std::sync::Arc;

use super::run_manager::RunInner;

/// The most states a thread keeps: as deep as the deepest tree a thread commonly runs.
const MAX_SPARES: usize = 32;

thread_local! {
    static SPARES: RefCell<Vec<Arc<RunInner>>> = const { RefCell::new(Vec::new()) };
}

/// `state` in a shared allocation: a kept one if this thread has one, else a new one.
#[inline]
pub(super) fn share(state: RunInner) -> Arc<RunInner> {
    let spare = SPARES.try_with(|spares| spares.try_borrow_mut().ok()?.pop()).ok().flatten();
    match spare {
        Some(mut shared) => match Arc::get_mut(&mut shared) {
            Some(slot) => {
                // A kept state was emptied by `give_back` and owns nothing: forgetting it
                // skips its drop glue.
                std::mem::forget(std::mem::replace(slot, state));
                shared
            }
            None => Arc::new(state),
        },
        None => Arc::new(state),
    }
}

/// Gives back `shared`, a run's state, when nothing else holds it: emptied at once, as
/// dropping it would, and kept for the next run of this thread if there is room. Out of
/// line, so that dropping the manager of a run no handler hears stays one inlined check.
#[inline(never)]
pub(super) fn give_back(mut shared: Arc<RunInner>) {
    let Some(state) = Arc::get_mut(&mut shared) else {
        // A clone of the run's manager holds it: the last one gives it back.
        return;
    };
    *state = RunInner::empty();
    // A thread that is exiting, or already giving back (a handler's drop ending a run),
    // frees it instead.
    let _ = SPARES.try_with(|spares| {
        if let Ok(mut spares) = spares.try_borrow_mut() {
            if spares.len() < MAX_SPARES {
                spares.push(shared);
            }
        }
    });
}
