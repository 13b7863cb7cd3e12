//! [`AsParent`]: what a traced function without a receiver accepts as its run's parent.

use crate::{CallbackManager, RunGuard, RunManager};

/// A parent for a traced run: a [`CallbackManager`] (by value or by reference; the run is a
/// root with its callbacks), a parent's [`RunManager`] or [`RunGuard`] (the run is its
/// child), or [`CallbackManager::none()`].
///
/// `#[traced_run]` functions without a `self` receiver take `impl AsParent`; methods take
/// a plain `&CallbackManager`, which keeps them callable on trait objects, and to which a
/// `&RunManager` dereferences.
///
/// ```
/// use runtrace_runtime::{AsParent, CallbackManager, ConsoleHandler, RunKind};
///
/// fn parent_run_id(parent: impl AsParent) -> Option<runtrace_runtime::RunId> {
///     parent.as_parent().parent_run_id()
/// }
///
/// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::with_writer(std::io::sink()));
/// let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
/// assert_eq!(parent_run_id(&callbacks), None);
/// assert_eq!(parent_run_id(callbacks.clone()), None);
/// assert_eq!(parent_run_id(&*run), run.run_id());
/// # run.end(&())?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the parent of a traced run",
    label = "expected a CallbackManager or a parent's run",
    note = "pass `&callbacks` (a `CallbackManager`), the caller's `run`, or `CallbackManager::none()`"
)]
pub trait AsParent {
    /// The manager the run starts from.
    fn as_parent(&self) -> &CallbackManager;
}

impl AsParent for CallbackManager {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self
    }
}

impl AsParent for RunManager {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self
    }
}

impl AsParent for RunGuard {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self
    }
}

impl<T: AsParent + ?Sized> AsParent for &T {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        (**self).as_parent()
    }
}
