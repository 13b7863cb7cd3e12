//! [`Work`]: a closure called through a trait object, so that the function calling it is
//! made once, not once per closure type.
//!
//! Why: `#[traced_run]` hands the runtime a few closures per traced function (the start, the
//! end, the sync body). Taken generically, each made its own copy of the function that calls
//! it (and, for the body, of the standard library's `catch_unwind` under it), every one with
//! its own debug info: the code per traced function in a debug build that
//! `benches/codegen.sh` measures. A `&mut dyn FnMut` would do as well, but brings every
//! closure two more functions, its `FnOnce::call_once` and the shim for the vtable; `Work`
//! brings one.
//!
//! The sync body's call is inlined in an optimized build (`macro_support::catch`), where the
//! vtable is a constant and the call a direct one, so a call no handler hears costs what it
//! did (the no-handler row of benches/instructions.sh). The start and the end are called
//! through the vtable, on the heard path only. `CatchUnwind` stays generic: through `Work`,
//! the poll of an `async fn` body was no longer inlined, and a call no handler hears took 36
//! more instructions per run. To remove it: take `impl FnMut(A) -> R` where
//! `&mut dyn Work<A, R>` is taken, and call the closure.

/// A closure, called through a trait object (see the module's doc).
pub trait Work<A, R> {
    /// Calls the closure.
    fn work(&mut self, argument: A) -> R;
}

impl<F: FnMut(A) -> R, A, R> Work<A, R> for F {
    #[inline]
    fn work(&mut self, argument: A) -> R {
        self(argument)
    }
}
