//! What runtrace's exporter crates (`runtrace-otel`, `runtrace-langsmith`) share: the
//! zero-code switch the facade checks before each traced call, and the flush of the process
//! exporter when the process exits. Not a public API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, OnceLock, PoisonError};

/// The exporter a zero-code switch installs for the whole process, and the switch.
pub struct ProcessExporter<G: 'static> {
    /// The guard that keeps the exporter installed: `Some` once installed, `None` when the
    /// environment asked for none or its configuration failed.
    guard: OnceLock<Option<G>>,
    /// Whether the switch was read: after that, a check is one relaxed load.
    read: AtomicBool,
    /// Whether the program built an exporter of this kind itself (see [`supersede`](Self::supersede)).
    superseded: AtomicBool,
}

impl<G: Send + Sync + 'static> ProcessExporter<G> {
    /// An exporter not installed yet.
    #[must_use]
    pub const fn new() -> Self {
        ProcessExporter { guard: OnceLock::new(), read: AtomicBool::new(false), superseded: AtomicBool::new(false) }
    }

    /// Installs, the first time only, the exporter whose guard `install` makes, if it makes
    /// one, and runs `flush` when the process exits normally (see [`at_exit`]).
    pub fn install(&'static self, who: &str, install: impl FnOnce() -> Option<G>, flush: fn()) {
        let mut installed = false;
        self.guard.get_or_init(|| {
            let guard = install();
            installed = guard.is_some();
            guard
        });
        if installed {
            at_exit(who, flush);
        }
    }

    /// Runs `install_from_env` unless a check already did, or the program built an exporter
    /// of this kind itself.
    #[inline]
    pub fn check(&self, install_from_env: fn()) {
        if !self.read.load(Ordering::Relaxed) {
            if !self.superseded.load(Ordering::Relaxed) {
                install_from_env();
            }
            self.read.store(true, Ordering::Relaxed);
        }
    }

    /// Says that the program built an exporter of this kind itself, which the environment
    /// configures as it does the zero-code one: from now on [`check`](Self::check) installs
    /// none, as it would send every run a second time (an explicit `install` still does).
    /// When the zero-code exporter is installed already it stays, and `warning` is printed
    /// once on stderr.
    pub fn supersede(&self, warning: &str) {
        if !self.superseded.swap(true, Ordering::Relaxed) && self.get().is_some() {
            eprintln!("{warning}");
        }
    }

    /// The installed exporter's guard.
    pub fn get(&self) -> Option<&G> {
        self.guard.get().and_then(Option::as_ref)
    }
}

impl<G: Send + Sync + 'static> Default for ProcessExporter<G> {
    fn default() -> Self {
        ProcessExporter::new()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn an_exporter_the_program_built_keeps_the_check_from_installing_but_not_an_explicit_install() {
        static PROCESS: ProcessExporter<()> = ProcessExporter::new();
        static CHECKS: AtomicUsize = AtomicUsize::new(0);
        fn install_from_env() {
            CHECKS.fetch_add(1, Ordering::Relaxed);
            PROCESS.install("test", || Some(()), || {});
        }
        PROCESS.supersede("not printed: nothing was installed");
        PROCESS.check(install_from_env);
        PROCESS.check(install_from_env);
        assert_eq!((CHECKS.load(Ordering::Relaxed), PROCESS.get()), (0, None), "the check installed nothing");
        install_from_env();
        assert_eq!(PROCESS.get(), Some(&()), "an explicit install still installs");
    }

    #[test]
    fn without_one_the_first_check_installs_once() {
        static PROCESS: ProcessExporter<()> = ProcessExporter::new();
        static CHECKS: AtomicUsize = AtomicUsize::new(0);
        fn install_from_env() {
            CHECKS.fetch_add(1, Ordering::Relaxed);
            PROCESS.install("test", || Some(()), || {});
        }
        PROCESS.check(install_from_env);
        PROCESS.check(install_from_env);
        assert_eq!((CHECKS.load(Ordering::Relaxed), PROCESS.get()), (1, Some(&())));
    }
}
