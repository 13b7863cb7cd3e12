//! [`Work`]: a closure called through a trait object, so that the function calling it is
//! made once, not once per closure type.
//!
//! Why: `#[traced_run]` hands the runtime two closures per traced function, the start and
//! the end of its run, both on the path a handler hears. Taken generically, each made its own
//! copy of the function that calls it, with its own debug info: the code per traced function
//! in a debug build that `benches/codegen.sh` measures. A `&mut dyn FnMut` would do as well,
//! but brings every closure two more functions, its `FnOnce::call_once` and the shim for the
//! vtable; `Work` brings one.
//!
//! The cost: on the heard path, the start and the end are a call through the vtable each
//! (benches/README.md, "Code per traced function", has the figures). A call no handler
//! hears never reaches them. The bodies themselves (the sync body's `catch_unwind`, an async
//! body's `CatchUnwind`) stay generic: through a trait object, a sync body took twice the
//! stack per level of traced recursion in a debug build, and an async body's poll was no
//! longer inlined, which a call no handler hears paid for. To remove it: take
//! `impl FnMut(A) -> R` where `&mut dyn Work<A, R>` is taken, and call the closure.

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
