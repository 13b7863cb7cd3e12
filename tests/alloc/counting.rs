//! The counting global allocator of the allocation tests (this binary) and of the allocation
//! benchmark (`benches/allocations.rs`, which includes this file): it hands every call on to
//! the system allocator unchanged and counts, in the whole process and on each thread, the
//! allocations made (reallocations included), the bytes they asked for, and the bytes live
//! (allocated and not yet freed). A binary installs it with
//! `#[global_allocator] static ALLOCATOR: Counting = Counting::new();`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::Sub;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What a [`Counting`] allocator counted, in the whole process or on one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Allocations, reallocations included.
    pub allocations: u64,
    /// The bytes those allocations asked for.
    pub bytes: u64,
    /// Bytes allocated minus bytes freed. Signed: a thread may free what another allocated.
    pub live: i64,
}

/// What was counted between two snapshots, `before` and `self`.
impl Sub for Counts {
    type Output = Counts;

    fn sub(self, before: Counts) -> Counts {
        Counts {
            allocations: self.allocations - before.allocations,
            bytes: self.bytes - before.bytes,
            live: self.live - before.live,
        }
    }
}

/// A global allocator that counts; see the module's documentation.
pub struct Counting {
    allocations: AtomicU64,
    bytes: AtomicU64,
    live: AtomicI64,
}

thread_local! {
    /// What this thread counted. Const-initialized and without a destructor, so using it
    /// never allocates.
    static HERE: Cell<Counts> = const { Cell::new(Counts { allocations: 0, bytes: 0, live: 0 }) };
}

impl Counting {
    pub const fn new() -> Self {
        Counting { allocations: AtomicU64::new(0), bytes: AtomicU64::new(0), live: AtomicI64::new(0) }
    }

    /// What every thread counted so far.
    pub fn everywhere(&self) -> Counts {
        Counts {
            allocations: self.allocations.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            live: self.live.load(Ordering::Relaxed),
        }
    }

    /// What this thread counted so far.
    pub fn here(&self) -> Counts {
        HERE.with(Cell::get)
    }

    /// Counts an allocation of `allocated` bytes (`None` for a deallocation) that freed
    /// `freed` bytes.
    fn count(&self, allocated: Option<usize>, freed: usize) {
        let signed = |bytes: usize| i64::try_from(bytes).unwrap_or(i64::MAX);
        let (allocations, bytes) = allocated.map_or((0, 0), |size| (1, size as u64));
        let live = signed(allocated.unwrap_or(0)) - signed(freed);
        // Each counter is read on its own, so none needs more than `Relaxed`.
        self.allocations.fetch_add(allocations, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.live.fetch_add(live, Ordering::Relaxed);
        // `try_with`: the allocator may run while this thread's locals are torn down.
        let _ = HERE.try_with(|here| {
            let counts = here.get();
            here.set(Counts {
                allocations: counts.allocations + allocations,
                bytes: counts.bytes + bytes,
                live: counts.live + live,
            });
        });
    }
}

// SAFETY: every call is handed on unchanged to the system allocator; counting touches three
// atomics and a const-initialized thread-local without destructor, none of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(Some(layout.size()), 0);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(Some(layout.size()), 0);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(Some(new_size), layout.size());
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.count(None, layout.size());
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}
