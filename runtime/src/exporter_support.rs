//! What runtrace's exporter crates (`runtrace-otel`, `runtrace-langsmith`) share: the
//! zero-code switch the facade checks before each traced call, and the flush of the process
//! exporter when the process exits. Not a public API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};

/// A switch read from the environment once: after the first check, one relaxed load.
pub struct ZeroCodeSwitch(AtomicBool);

impl ZeroCodeSwitch {
    /// A switch not read yet.
    #[must_use]
    pub const fn new() -> Self {
        ZeroCodeSwitch(AtomicBool::new(false))
    }

    /// Runs `install` (which makes itself idempotent) unless a check already did.
    #[inline]
    pub fn check(&self, install: fn()) {
        if !self.0.load(Ordering::Relaxed) {
            install();
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

impl Default for ZeroCodeSwitch {
    fn default() -> Self {
        ZeroCodeSwitch::new()
    }
}

/// The hooks [`at_exit`] runs, in the order they were given.
static HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Runs `flush` when the process exits normally (returning from `main`, or
/// `std::process::exit`): a static exporter is never dropped, so `atexit` is the hook. A
/// panic in `flush` is caught there. `who` names the caller in the message printed when the
/// hook cannot be registered.
pub fn at_exit(who: &str, flush: fn()) {
    static REGISTERED: Once = Once::new();
    static OK: AtomicBool = AtomicBool::new(false);
    HOOKS.lock().unwrap_or_else(PoisonError::into_inner).push(flush);
    REGISTERED.call_once(|| {
        // SAFETY: `run_hooks` is a plain `extern "C" fn()` that lets no panic out.
        OK.store(unsafe { libc::atexit(run_hooks) } == 0, Ordering::Relaxed);
    });
    if !OK.load(Ordering::Relaxed) {
        eprintln!("{who}: could not register the exit hook; call runtrace::flush() before exiting");
    }
}

extern "C" fn run_hooks() {
    let hooks = std::mem::take(&mut *HOOKS.lock().unwrap_or_else(PoisonError::into_inner));
    for hook in hooks {
        // A panic must not unwind into libc.
        let _ = std::panic::catch_unwind(hook);
    }
}
