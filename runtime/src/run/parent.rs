//! [`AsParent`]: what a traced function without a receiver accepts as its run's parent.

use super::callback_manager::CallbackManager;
use super::run_guard::RunGuard;
use super::run_manager::RunManager;

/// A parent for a traced run: a [`CallbackManager`] (by value or by reference; the run is a
/// root with its callbacks), a parent's [`RunManager`] or [`RunGuard`] (the run is its
/// child), or [`CallbackManager::none()`].
///
/// `#[traced_run]` functions without a `self` receiver take `impl AsParent`; methods take
/// `&dyn AsParent`, which keeps them callable on trait objects. Either way the caller passes
/// the same things: `&callbacks`, its own `run`, or `CallbackManager::none()`.
///
/// ```
/// use runtrace_runtime::{AsParent, CallbackManager, RunId, RunKind};
/// use runtrace_runtime::handlers::ConsoleHandler;
///
/// fn parent_run_id(parent: impl AsParent) -> Option<RunId> {
///     parent.as_parent().parent_run_id()
/// }
///
/// let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
/// let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
/// assert_eq!(parent_run_id(&callbacks), None);
/// assert_eq!(parent_run_id(callbacks.clone()), None);
/// assert_eq!(parent_run_id(run.run()), run.run_id());
/// # run.end(&())?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
// `Sync`, so that `&dyn AsParent` is `Send`: the future of a traced `async` method holds it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the parent of a traced run",
    label = "expected a CallbackManager or a parent's run",
    note = "pass `&callbacks` (a `CallbackManager`), the caller's `run`, or `CallbackManager::none()`"
)]
pub trait AsParent: Sync {
    /// The manager the run starts from.
    fn as_parent(&self) -> &CallbackManager;
}

impl AsParent for CallbackManager {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self
    }
}

/// The run's children's manager: the new run is its child.
impl AsParent for RunManager {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self.children()
    }
}

/// The run's children's manager: the new run is its child.
impl AsParent for RunGuard {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        self.run().children()
    }
}

impl<T: AsParent + ?Sized> AsParent for &T {
    #[inline]
    fn as_parent(&self) -> &CallbackManager {
        (**self).as_parent()
    }
}
