//! What runtrace allocates and what it keeps, watched by the counting global allocator of
//! `counting`. A binary has one global allocator, so these tests have this binary to
//! themselves: one module per concern.
//!
//! Most of them count on their own thread, so they may run side by side. `background_memory`
//! counts the bytes live in the whole process: the other tests free all they allocate once
//! they end, so they can only make it wait, within its limit, never fail.

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "these tests use only `Counted`")]
mod common;
mod counting;

mod background_memory;
mod console_memory;
mod deep_trees;
mod no_handler_alloc;
mod stream_memory;
mod tracer_memory;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting::new();
