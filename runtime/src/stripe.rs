//! Thread stripes: threads take numbers from `0..STRIPES` in turn, so that state written at
//! every run can be kept per stripe and the first [`STRIPES`] threads of a program never
//! write to one another's. Every write to a cache line another core wrote last waits for it
//! to move; two threads starting runs with one manager and one tracer would otherwise do so
//! at every run.
//!
//! Two things are striped: the reference count a run takes on its callbacks (see
//! `Callbacks::for_children`) and the tracer's shard of a tree, which a root run's id
//! names (see [`RunId::random`](crate::RunId::random)).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many stripes there are.
pub(crate) const STRIPES: usize = 16;

/// This thread's stripe, in `0..STRIPES`.
#[inline]
pub(crate) fn this_thread() -> usize {
    // A `const` thread-local of a type without `Drop` is a plain load; `UNSET` until the
    // thread's first run takes a number.
    const UNSET: usize = usize::MAX;
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(UNSET) };
    }
    STRIPE.with(|stripe| match stripe.get() {
        UNSET => {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let taken = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(taken);
            taken
        }
        taken => taken,
    })
}
