//! What `#[traced_run]` expands to calls into. Not a public API: reach it through
//! `runtrace::__private`, whose contents may change in any release.

use std::marker::PhantomData;

use serde_json::{Map, Value};

use crate::dispatch::report_unraisable;
use crate::event::{ErrorCause, RunError};
use crate::{CallbackError, CallbackManager, RunGuard, RunKind};

pub use crate::dispatch::CatchUnwind;
pub use crate::record;

/// The static description of a traced function's runs, plus its per-call options.
pub struct RunSpec<'a> {
    /// `kind = "..."`.
    pub kind: RunKind,
    /// `name = "..."`, or the function's name.
    pub name: &'static str,
    /// `tags(..)`: local tags of the run.
    pub tags: &'a [&'static str],
    /// `metadata(..)`: local metadata, evaluated only when a handler listens.
    pub metadata: Option<&'a dyn Fn() -> Vec<(&'static str, Value)>>,
    /// `callbacks = expr`: constructor callbacks, local to the run.
    pub callbacks: Option<&'a CallbackManager>,
    /// `verbose = expr`.
    pub verbose: bool,
}

/// What an input or output recorded as `[REDACTED]` reads.
pub const REDACTED: &str = "[REDACTED]";

/// Starts the run of one traced call. The first check is the whole cost of a call no
/// handler hears.
///
/// # Errors
///
/// A handler that raises refused the start.
#[inline]
pub fn start(
    parent: &CallbackManager,
    spec: &RunSpec<'_>,
    inputs: &(dyn Fn() -> Value + Sync),
) -> Result<RunGuard, CallbackError> {
    let local = spec.callbacks.filter(|callbacks| !callbacks.is_empty());
    if parent.is_empty() && local.is_none() && !spec.verbose {
        return Ok(RunGuard::noop());
    }
    start_recorded(parent, local, spec, inputs)
}

#[cold]
fn start_recorded(
    parent: &CallbackManager,
    local: Option<&CallbackManager>,
    spec: &RunSpec<'_>,
    inputs: &(dyn Fn() -> Value + Sync),
) -> Result<RunGuard, CallbackError> {
    let name = std::borrow::Cow::Borrowed(spec.name);
    if local.is_none() && !spec.verbose && spec.tags.is_empty() && spec.metadata.is_none() {
        return parent.start(spec.kind, name, inputs);
    }
    let mut configured = CallbackManager::configure(parent, local.unwrap_or(CallbackManager::none()), spec.verbose);
    if !spec.tags.is_empty() {
        configured = configured.with_local_tags(spec.tags);
    }
    if let Some(metadata) = spec.metadata {
        configured = configured.with_local_metadata(metadata());
    }
    configured.start(spec.kind, name, inputs)
}

/// The inputs object `{argument: value}`.
#[must_use]
pub fn inputs<const N: usize>(fields: [(&'static str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect::<Map<_, _>>())
}

/// Ends the run of a function returning a plain value.
///
/// # Errors
///
/// A handler that raises failed on the end event.
#[inline]
pub fn end<T>(guard: RunGuard, ret: &T, output: impl Fn(&T) -> Value + Sync) -> Result<(), CallbackError>
where
    T: Sync + ?Sized,
{
    guard.end_with(&|| output(ret))
}

/// Ends the run of a function returning a `Result`: the end event for `Ok`, the error
/// event, rendered by `render`, for `Err`. Only a failure at the end event is returned, as
/// only it can still replace an `Ok`.
///
/// # Errors
///
/// A handler that raises failed on the end event.
#[inline]
pub fn end_result<T, E>(
    guard: RunGuard,
    ret: &Result<T, E>,
    output: impl Fn(&T) -> Value + Sync,
    render: impl FnOnce(&E) -> String,
) -> Result<(), CallbackError>
where
    T: Sync,
{
    match ret {
        Ok(value) => guard.end_with(&|| output(value)),
        Err(error) => {
            let type_name = std::any::type_name::<E>();
            report_unraisable(
                guard.fail_with(|| RunError::new(render(error), ErrorCause::Returned).with_type_name(type_name)),
            );
            Ok(())
        }
    }
}

/// Picks how a handler's request to stop a run reaches the caller of a function returning
/// `R`: as its `Err` when `R` is a `Result` whose error converts from [`CallbackError`],
/// else as a warning, the function going on. Resolved at compile time by autoref: the
/// expansion calls `(&Stop::<R>::new()).stop(error)` with both traits in scope.
pub struct Stop<R>(PhantomData<fn() -> R>);

impl<R> Stop<R> {
    /// The selector for functions returning `R`.
    #[must_use]
    pub const fn new() -> Self {
        Stop(PhantomData)
    }
}

impl<R> Default for Stop<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// The `Result` arm of [`Stop`].
pub trait StopByReturning {
    /// The function's return type.
    type Output;
    /// `Ok(early return value)`.
    ///
    /// # Errors
    ///
    /// Never: this arm always carries the error to the caller.
    fn stop(&self, error: CallbackError) -> Result<Self::Output, CallbackError>;
}

impl<T, E: From<CallbackError>> StopByReturning for Stop<Result<T, E>> {
    type Output = Result<T, E>;

    fn stop(&self, error: CallbackError) -> Result<Self::Output, CallbackError> {
        Ok(Err(E::from(error)))
    }
}

/// The fallback arm of [`Stop`].
pub trait StopByReporting {
    /// The function's return type.
    type Output;
    /// `Err(error)`: the caller cannot be told.
    ///
    /// # Errors
    ///
    /// Always: this arm hands the error back to be reported.
    fn stop(&self, error: CallbackError) -> Result<Self::Output, CallbackError>;
}

impl<R> StopByReporting for &Stop<R> {
    type Output = R;

    fn stop(&self, error: CallbackError) -> Result<R, CallbackError> {
        Err(error)
    }
}

/// The early return value when the stop reaches the caller; else reports and gives `None`.
#[must_use]
pub fn stopped<R>(stop: Result<R, CallbackError>) -> Option<R> {
    match stop {
        Ok(early) => Some(early),
        Err(error) => {
            tracing::warn!(
                target: "runtrace",
                %error,
                "a handler asked to stop a run whose function cannot return the error (its \
                 return type is not a Result whose error implements From<CallbackError>); it goes on"
            );
            None
        }
    }
}
