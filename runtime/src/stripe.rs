//! Thread stripes: each live thread holds a number in `0..STRIPES`, so that state written at
//! every run can be kept per stripe and, while at most [`STRIPES`] threads live, no two
//! threads write to the same. Every write to a cache line another core wrote last waits for
//! it to move; two threads starting runs with one manager and one tracer would otherwise do
//! so at every run.
//!
//! Three things are striped: the reference count a run takes on its callbacks (see
//! `Callbacks::for_children`), the tracer's shard of a tree, which a root run's id names
//! (see [`RunId::random`](crate::RunId::random)), and a `TracingBridge`'s map of a run's
//! span, which the run's id names.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many stripes there are.
pub(crate) const STRIPES: usize = 16;

/// How many live threads hold each stripe.
static HOLDERS: [AtomicUsize; STRIPES] = [const { AtomicUsize::new(0) }; STRIPES];

/// A thread's stripe, given back when the thread exits, so that threads that come and go
/// (a pool's, a benchmark's) do not end up sharing one with a thread that stays.
struct Held(usize);

impl Held {
    /// The stripe fewest live threads hold, the first such: every thread has one of its
    /// own while at most [`STRIPES`] live.
    fn take() -> Held {
        loop {
            let counts = HOLDERS.each_ref().map(|holders| holders.load(Ordering::Relaxed));
            let (fewest, count) = counts.iter().enumerate().min_by_key(|&(_, count)| *count).unwrap_or((0, &0));
            // Taken only if no other thread took it meanwhile: two threads starting at once
            // would otherwise both take the same one.
            if HOLDERS[fewest].compare_exchange(*count, count + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                return Held(fewest);
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HOLDERS[self.0].fetch_sub(1, Ordering::Relaxed);
    }
}

/// This thread's stripe, in `0..STRIPES`; 0 while the thread exits.
#[inline]
pub(crate) fn this_thread() -> usize {
    thread_local! {
        static STRIPE: Held = Held::take();
    }
    STRIPE.try_with(|held| held.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn live_threads_hold_stripes_of_their_own_and_give_them_back() {
        // Few threads, as other tests' threads hold stripes meanwhile.
        let threads = 4;
        let barrier = Barrier::new(threads);
        let stripes = |barrier: &Barrier| {
            std::thread::scope(|scope| {
                let held: Vec<_> = (0..threads)
                    .map(|_| {
                        scope.spawn(|| {
                            let stripe = this_thread();
                            barrier.wait(); // all live at once
                            stripe
                        })
                    })
                    .collect();
                held.into_iter().map(|thread| thread.join().expect("the thread ends")).collect::<Vec<_>>()
            })
        };
        let mut first = stripes(&barrier);
        first.sort_unstable();
        first.dedup();
        assert_eq!(first.len(), threads, "{first:?}");
        let holders =
            |stripes: &[usize]| stripes.iter().map(|&stripe| HOLDERS[stripe].load(Ordering::Relaxed)).sum::<usize>();
        // The threads exited: the next ones find the same stripes free again.
        let mut second = stripes(&barrier);
        second.sort_unstable();
        second.dedup();
        assert_eq!(second.len(), threads, "{second:?}");
        assert!(holders(&first) < 2 * threads, "stripes were given back");
    }
}
