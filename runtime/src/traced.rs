//! What `#[traced_run]` expands to calls into. Not a public API: reach it through
//! `runtrace::__private`, whose contents may change in any release.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::OnceLock;

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
    /// `name = "..."`, the function's name, or `Type::method`.
    pub name: RunName,
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
    let name = spec.name.resolve();
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

/// Fails the run with the error of an `Err`, rendered by `render`. A handler that raises
/// cannot turn an error into another one, so its failure here is reported.
///
/// # Errors
///
/// Never; the signature matches the end event's, whose failure can stop a run.
#[inline]
pub fn fail<E>(guard: RunGuard, error: &E, render: impl FnOnce(&E) -> String) -> Result<(), CallbackError> {
    let type_name = std::any::type_name::<E>();
    report_unraisable(guard.fail_with(|| RunError::new(render(error), ErrorCause::Returned).with_type_name(type_name)));
    Ok(())
}

/// Gives the body's closure its return type, so `?` and errors see the declared type.
#[inline]
pub fn typed_fn<R, F: FnOnce() -> R>(body: F) -> F {
    body
}

/// Gives the body's future its output type, so `?` and errors see the declared type.
#[inline]
pub fn typed_future<R, F: std::future::Future<Output = R>>(body: F) -> F {
    body
}

/// `callbacks = expr`: the constructor callbacks, which must be a `CallbackManager`.
#[inline]
#[must_use]
pub fn constructor_callbacks(callbacks: &CallbackManager) -> Option<&CallbackManager> {
    Some(callbacks)
}

/// `verbose = expr`, which must be a `bool`.
#[inline]
#[must_use]
pub fn verbose(verbose: bool) -> bool {
    verbose
}

/// The name of a traced function's runs.
pub enum RunName {
    /// Known when the function was compiled.
    Static(&'static str),
    /// `Type::method`, with `Type` known only in the monomorphized body.
    Method {
        /// `type_name::<Self>`.
        type_name: fn() -> &'static str,
        /// The method's name.
        method: &'static str,
        /// The name made for the first `Self`, reused while `Self` stays the same type.
        cache: &'static NameCache,
    },
}

/// The per-method cache of [`RunName::Method`].
pub type NameCache = OnceLock<(&'static str, String)>;

impl RunName {
    fn resolve(&self) -> Cow<'static, str> {
        match *self {
            RunName::Static(name) => Cow::Borrowed(name),
            RunName::Method { type_name, method, cache } => {
                let type_name = type_name();
                let (cached_for, name) = cache.get_or_init(|| (type_name, method_name(type_name, method)));
                // One cache serves every `Self` of a generic or trait default method.
                if std::ptr::eq(*cached_for, type_name) || *cached_for == type_name {
                    Cow::Borrowed(name.as_str())
                } else {
                    Cow::Owned(method_name(type_name, method))
                }
            }
        }
    }
}

/// `my_crate::chains::MyChain<T>` and `call` make `MyChain::call`.
fn method_name(type_name: &str, method: &str) -> String {
    let without_generics = type_name.split('<').next().unwrap_or(type_name);
    let short = without_generics.rsplit("::").next().unwrap_or(without_generics);
    format!("{short}::{method}")
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
