//! What `#[traced_run]` expands to calls into. Not a public API: reach it through
//! `runtrace::__private`, whose contents may change in any release.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::Value;

pub use crate::dispatch::catch_unwind::CatchUnwind;
use crate::dispatch::inline::listens;
use crate::dispatch::report::{handler_of, report_unraisable, warn_once};
pub use crate::error::CallbackError;
pub use crate::event::RunKind;
use crate::event::payload::Make;
pub use crate::event::payload::{Field, Recorded, record};
use crate::event::render;
pub use crate::event::{ErrorCause, ModelOutput, ModelRequest, RunError};
use crate::handler::Ignore;
use crate::handlers::{bridge_made, on_span};
use crate::run::HeardRun;
use crate::run::ambient;
pub use crate::run::{AsParent, CallbackManager, RunGuard, RunManager};
pub use crate::stream::{StreamOutput, StreamRun, TokenText, TracedStream, token_text_of, traced_stream};
pub use crate::work::Work;
pub use futures_core::Stream;

/// The static description of a traced function's runs, plus its per-call options.
#[derive(Clone, Copy)]
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
    /// `model = expr` and `provider = expr`: what a model run asks, made only when a handler
    /// hears it.
    pub model: Option<&'a dyn Fn() -> ModelRequest>,
}

/// What `redact(..)`, `redact_output` and `err(redact)` record instead of a value.
const REDACTED_MESSAGE: &str = "[REDACTED]";

/// What an input or output recorded as `[REDACTED]` records.
pub const REDACTED: &dyn Recorded = &REDACTED_MESSAGE;

/// Whether no handler can hear a run started under `parent`: the whole cost of a traced
/// call that no handler hears, and the only part of the start inlined into it.
#[inline]
#[must_use]
pub fn unheard(parent: &CallbackManager, callbacks: Option<&CallbackManager>, verbose: bool) -> bool {
    parent.is_empty()
        && callbacks.is_none_or(CallbackManager::is_empty)
        && !verbose
        && !ambient::ambient_tracer_possible()
}

/// Starts, by `work`, the run of a traced call that a handler may hear (see [`unheard`]), in a
/// function of its own, never inlined: its guard, or the early return value when a handler
/// refused the start and `stop` (see [`Stop`]) carries that to the caller.
///
/// A traced call makes its run's spec, its inputs' list, its events and their errors only
/// when a handler hears it, but a function's frame holds every local of every path: inlined,
/// that work made each traced call's frame ten times the plain function's, and deep traced
/// recursion overflow the stack. Through here, it takes stack only while it runs. The
/// benches' README has the per-level figures.
///
/// `work` is a trait object and `stop` a function, so this is made once per return type, not
/// once per traced function: generic over a closure, it was one more function, with its own
/// debug info, for every traced function (benches/codegen.sh measures the code per traced
/// function).
#[cold]
#[inline(never)]
pub fn outline<R>(work: &mut dyn Work<(), Result<RunGuard, CallbackError>>, stop: Stopper<R>) -> Result<RunGuard, R> {
    match work.work(()) {
        Ok(guard) => Ok(guard),
        Err(error) => stopped(stop(error)).map_or_else(|| Ok(RunGuard::noop()), Err),
    }
}

/// Starts the run of one traced call that a handler may hear (see [`unheard`]). Inlined
/// into the expansion's out-of-line start, where the spec is mostly constants.
///
/// # Errors
///
/// A handler that raises refused the start.
#[inline]
pub fn start(parent: &CallbackManager, spec: &RunSpec<'_>, inputs: &[Field<'_>]) -> Result<RunGuard, CallbackError> {
    let inputs = Make::Fields(inputs);
    if spec.callbacks.is_none() && !spec.verbose && spec.tags.is_empty() && spec.metadata.is_none() {
        return parent.start(spec.kind, spec.name.resolve(), inputs, spec.model);
    }
    start_configured(parent, spec, inputs)
}

/// [`start`] for a run with options that add to its callbacks: `callbacks`, `verbose`,
/// `tags` or `metadata`.
fn start_configured(parent: &CallbackManager, spec: &RunSpec<'_>, inputs: Make<'_>) -> Result<RunGuard, CallbackError> {
    // Constructor callbacks without handlers still bring their tags and metadata.
    let local = spec.callbacks.unwrap_or(CallbackManager::none());
    let mut configured = CallbackManager::configure(parent, local).with_verbose(spec.verbose);
    if !spec.tags.is_empty() {
        configured = configured.with_local_tags(spec.tags);
    }
    if let Some(metadata) = spec.metadata {
        // Metadata expressions are the user's code: run them only for a handler that hears
        // this run (an ambient tracer scope is added later, so it counts as one).
        if ambient::ambient_tracer_possible() || listens(configured.handlers(), Ignore::kind(spec.kind)) {
            configured = configured.with_local_metadata(metadata());
        }
    }
    configured.start(spec.kind, spec.name.resolve(), inputs, spec.model)
}

/// `Some(guard)` when a handler hears its run, to be ended by [`end`] or [`end_sync`]; else
/// `None`, the guard dropped. Inlined: this check is all that a call no handler hears pays
/// for the end, and the expansion's early return after [`end`] sits behind it.
#[inline]
#[must_use]
pub fn heard(guard: RunGuard) -> Option<RunGuard> {
    if guard.is_recording() { Some(guard) } else { None }
}

/// What ends a heard run: the expansion's closure that sends the end event.
pub type Finish<'a> = dyn Work<RunGuard, Result<(), CallbackError>> + 'a;

/// Ends the heard run of `guard` (see [`heard`]) with `finish`, out of line (see [`outline`]);
/// gives the early return value when a handler's stop there reaches the caller by `stop`.
/// Made once per return type, as [`outline`] is.
#[cold]
#[inline(never)]
pub fn end<R>(guard: RunGuard, finish: &mut Finish<'_>, stop: Stopper<R>) -> Option<R> {
    finished(finish.work(guard), stop)
}

/// The early return value, if any, after the end event's `outcome`.
#[inline]
fn finished<R>(outcome: Result<(), CallbackError>, stop: Stopper<R>) -> Option<R> {
    outcome.err().and_then(|error| stopped(stop(error)))
}

/// `guard`, its run's span entered when a `TracingBridge` among its handlers made one, for
/// a sync body; [`left`] leaves it, through [`end_sync`] or after a panic.
///
/// Called on the heard path of the start only, and nothing is held across the body, not an
/// `EnteredSpan`, not a flag: a check before the body, or a value kept across it, costs a
/// call that no handler hears instructions and registers (the no-handler row of the
/// instruction counts shows both). [`left`] looks the span up again, which only bridged runs
/// pay. The two agree: a bridge among the run's handlers was made before the run started,
/// and keeps the run's span until the run's end event, which comes after the span is left.
#[inline]
pub fn entered(guard: RunGuard) -> RunGuard {
    enter_run_span(&guard);
    guard
}

/// [`end`] for a sync body, its run [`entered`]: leaves the run's span, then ends the run.
#[cold]
#[inline(never)]
pub fn end_sync<R>(guard: RunGuard, finish: &mut Finish<'_>, stop: Stopper<R>) -> Option<R> {
    finished(finish.work(left(guard)), stop)
}

/// `guard`, its run's span left after a sync body, its run [`entered`], ended or panicked.
#[inline]
pub fn left(guard: RunGuard) -> RunGuard {
    exit_run_span(&guard);
    guard
}

// Functions, not closures in the generic `InRunSpan::poll`, so that they are made once, not
// once per future type.
#[inline]
fn enter_run_span(guard: &RunGuard) {
    on_run_span(guard, |(id, dispatch)| dispatch.enter(id));
}

#[inline]
fn exit_run_span(guard: &RunGuard) {
    on_run_span(guard, |(id, dispatch)| dispatch.exit(id));
}

/// Calls `f` with the run's span, if a bridge made one.
#[inline]
pub(crate) fn on_run_span(guard: &RunGuard, f: fn((&tracing::Id, &tracing::Dispatch))) {
    if let Some(run) = bridged(guard) {
        if let Some(run_id) = run.run_id() {
            on_span(run.handlers(), run_id, f);
        }
    }
}

/// The run of `guard` when a bridge may have made it a span: a heard run, once a
/// `TracingBridge` exists in the process.
#[inline]
fn bridged(guard: &RunGuard) -> Option<HeardRun<'_>> {
    guard.heard().filter(|_| bridge_made())
}

pin_project_lite::pin_project! {
    /// An async body, polled with its run's span entered (as `tracing::Instrument` does), so
    /// that its log lines and the spans of what it calls nest under the run on whatever
    /// thread each poll happens.
    ///
    /// It holds the run's guard by reference, not the span: the span is looked up at each
    /// poll, under the bridge's lock, as for a sync body. An `Option<Span>` kept in the
    /// future, or a guard held across the poll, made each level of traced async recursion
    /// take 240 to 288 bytes of stack instead of 128 (benches/README.md, "Stack per
    /// level"). It wraps the body's `CatchUnwind`, so a panic is caught before it would
    /// unwind past the span's exit.
    pub struct InRunSpan<'a, F> {
        guard: &'a RunGuard,
        #[pin]
        future: F,
    }
}

/// `future`, polled inside the run's span when a `TracingBridge` has one for it.
#[inline]
pub fn in_run_span<F: Future>(guard: &RunGuard, future: F) -> InRunSpan<'_, F> {
    InRunSpan { guard, future }
}

impl<F: Future> Future for InRunSpan<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        enter_run_span(this.guard);
        let poll = this.future.poll(cx);
        exit_run_span(this.guard);
        poll
    }
}

/// Fails the run with the error of an `Err`, rendered by `render`. A handler that raises
/// cannot turn an error into another one, so its failure here is reported.
///
/// `render` is a function, not a closure, so that this is made once per error type, not once
/// per traced function.
///
/// # Errors
///
/// Never; the signature matches the end event's, whose failure can stop a run.
pub fn fail<E: ?Sized>(guard: RunGuard, error: &E, render: fn(&E) -> String) -> Result<(), CallbackError> {
    let type_name = std::any::type_name::<E>();
    report_unraisable(guard.fail_with(|| RunError::new(render(error), ErrorCause::Returned).with_type_name(type_name)));
    Ok(())
}

/// Ends the run with its output (`&()` for `skip_output`, [`REDACTED`] for
/// `redact_output`), recorded only when a handler reads it, and with what `model_output`
/// knows of a model call.
///
/// # Errors
///
/// A handler that raises failed on the end event.
#[inline]
pub fn end_output(
    guard: RunGuard,
    output: &dyn Recorded,
    model_output: Option<&dyn ModelOutput>,
) -> Result<(), CallbackError> {
    guard.end_with_output(&|| output.to_json(), model_output)
}

/// The returned value, asked whether it is a [`ModelOutput`]: [`IsModelOutput`] answers for
/// types that are, [`NotModelOutput`] (one autoref further) for the rest.
pub struct ModelProbe<'a, T: ?Sized>(pub &'a T);

/// The [`ModelProbe`] arm of types that are a [`ModelOutput`].
pub trait IsModelOutput<'a> {
    /// The value, as a model output.
    fn model_output(&self) -> Option<&'a dyn ModelOutput>;
}

impl<'a, T: ModelOutput> IsModelOutput<'a> for ModelProbe<'a, T> {
    #[inline]
    fn model_output(&self) -> Option<&'a dyn ModelOutput> {
        Some(self.0)
    }
}

/// The [`ModelProbe`] arm of every other type.
pub trait NotModelOutput<'a> {
    /// `None`: the value knows nothing of a model call.
    #[inline]
    fn model_output(&self) -> Option<&'a dyn ModelOutput> {
        None
    }
}

impl<'a, T: ?Sized> NotModelOutput<'a> for &ModelProbe<'a, T> {}

/// A returned value or a stream's item whose type the macro cannot read as a `Result` (an
/// alias such as `type ApiResult<T> = Result<T, ApiError>`), split into its `Ok` value or
/// its error as [`SplitResult`] and [`SplitPlain`] pick by autoref:
/// `(&ResultProbe(value)).split()` with both traits in scope. The halves keep their types,
/// so what the expansion does with them next (recording, tokens, model output) is checked
/// and chosen for the real type, as for a written one.
pub struct ResultProbe<'a, T>(pub &'a T);

/// The `Result` arm of [`ResultProbe`]: the `Ok` value ends the run, the error fails it.
pub trait SplitResult<'a> {
    /// The `Ok` value's type.
    type Value;
    /// The error's type.
    type Error;
    /// The `Ok` value or the error.
    ///
    /// # Errors
    ///
    /// The error of an `Err`.
    fn split(&self) -> Result<&'a Self::Value, &'a Self::Error>;
}

impl<'a, T, E> SplitResult<'a> for ResultProbe<'a, Result<T, E>> {
    type Value = T;
    type Error = E;

    #[inline]
    fn split(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

/// The fallback arm of [`ResultProbe`]: the whole value is the `Ok` value.
pub trait SplitPlain<'a> {
    /// The value's type.
    type Value;
    /// [`NoError`]: such a value is never an error.
    type Error;
    /// The value, as `Ok`.
    ///
    /// # Errors
    ///
    /// Never.
    fn split(&self) -> Result<&'a Self::Value, &'a Self::Error>;
}

impl<'a, T> SplitPlain<'a> for &ResultProbe<'a, T> {
    type Value = T;
    type Error = NoError;

    #[inline]
    fn split(&self) -> Result<&'a T, &'a NoError> {
        Ok(self.0)
    }
}

/// The error of values that are not `Result`s: there is none. It renders as an error does,
/// so that the expansion's error arm compiles for them too, and is never reached.
#[derive(Debug)]
pub enum NoError {}

impl Display for NoError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

/// Holds `err(..)` to functions whose run ends with a `Result` (a returned value, a stream's
/// items), for a type the macro cannot read as one (an alias).
#[diagnostic::on_unimplemented(
    message = "`err(..)` renders the error of a `Result`; `{Self}` is not one",
    label = "given to a run that ends with `{Self}`, not a `Result`",
    note = "remove `err(..)`, or return a `Result` (or a stream of `Result`s)"
)]
pub trait ReturnsResult {}

impl<T, E> ReturnsResult for Result<T, E> {}

/// Named, not called, by a function with `err(..)` whose return type (or stream item) is not
/// written as a `Result`: compiles only when it is one.
pub const fn returns_result<R: ReturnsResult>() {}

/// Gives the body's closure its return type, so `?` and errors see the declared type.
#[inline]
pub fn typed_fn<R, F: FnOnce() -> R>(body: F) -> F {
    body
}

/// Ends the run of a sync body that panicked, its run [`entered`] (its message recorded
/// unless `redact`), then resumes the panic. Out of line, so that the panic's path is no code
/// of the traced function's own.
#[cold]
#[inline(never)]
pub fn resume(guard: RunGuard, panic: Box<dyn Any + Send>, redact: bool) -> ! {
    let guard = left(guard);
    if redact {
        panicked_redacted(guard);
    } else {
        guard.panicked(&*panic);
    }
    std::panic::resume_unwind(panic)
}

// The checks below are one trait per requirement, each with its own message on the user's
// tokens. `do_not_recommend` keeps rustc on that message when the type that fails is nested
// (`Vec<Embedding>`), instead of serde's, which knows nothing of `skip`.
macro_rules! requirement {
    ($(#[doc = $doc:literal])* $name:ident: $bound:ident, $message:literal, $label:literal, $note:literal) => {
        $(#[doc = $doc])*
        #[diagnostic::on_unimplemented(message = $message, label = $label, note = $note)]
        pub trait $name: $bound {}

        #[diagnostic::do_not_recommend]
        impl<T: $bound + ?Sized> $name for T {}
    };
}

requirement! {
    /// An argument recorded in the run's inputs must be `Serialize`.
    RecordInput: Serialize,
    "`{Self}` cannot be recorded in the run's inputs: it does not implement `serde::Serialize`",
    "this argument is recorded as JSON",
    "leave the argument out of the run's inputs with `#[traced_run(skip(..))]` or `skip_all`, \
     or record it as \"[REDACTED]\" with `redact(..)`"
}

requirement! {
    /// An argument recorded in the run's inputs must be `Sync`.
    ShareInput: Sync,
    "`{Self}` cannot be recorded in the run's inputs: it is not `Sync`",
    "handlers may read the run's inputs from another thread",
    "leave the argument out of the run's inputs with `#[traced_run(skip(..))]` or `skip_all`, \
     or record it as \"[REDACTED]\" with `redact(..)`"
}

/// Checks that an argument can be recorded and erases its type.
#[inline]
#[must_use]
pub fn input<'a, T: RecordInput + ShareInput + 'a>(value: &'a T) -> &'a (dyn Recorded + 'a) {
    value
}

requirement! {
    /// The value a traced function returns (its `Ok` value for a `Result`) must be `Serialize`.
    RecordOutput: Serialize,
    "`{Self}` cannot be recorded as the run's output: it does not implement `serde::Serialize`",
    "the function's output is recorded as JSON",
    "leave the output out of the record with `#[traced_run(skip_output)]`, \
     or record it as \"[REDACTED]\" with `redact_output`"
}

requirement! {
    /// The value a traced function returns must be `Sync` to be recorded.
    ShareOutput: Sync,
    "`{Self}` cannot be recorded as the run's output: it is not `Sync`",
    "handlers may read the run's output from another thread",
    "leave the output out of the record with `#[traced_run(skip_output)]`, \
     or record it as \"[REDACTED]\" with `redact_output`"
}

/// Checks that the output can be recorded and erases its type.
#[inline]
#[must_use]
pub fn output<'a, T: RecordOutput + ShareOutput + 'a>(value: &'a T) -> &'a (dyn Recorded + 'a) {
    value
}

requirement! {
    /// A value of `metadata(key = value)` must be `Serialize`.
    RecordMetadata: Serialize,
    "`{Self}` cannot be recorded as a metadata value: it does not implement `serde::Serialize`",
    "metadata values are recorded as JSON",
    "record something that describes it instead, such as its name: `metadata(model = \"gpt-4o\")`"
}

/// The JSON of a `metadata(key = value)` value.
#[inline]
#[must_use]
pub fn metadata<T: RecordMetadata + ?Sized>(value: &T) -> Value {
    record(value)
}

/// The error of a traced function that returns `Result`, rendered with `Display` (the default,
/// and `err(Display)`).
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `Display`",
    label = "a failed run records its error with `Display`",
    note = "implement `std::fmt::Display` for it (`thiserror` derives it), or record the error with `Debug`: \
            `#[traced_run(err(Debug))]`"
)]
pub trait DisplayError {
    /// The error as the run's error message.
    fn render(&self) -> String;
}

impl<E: Display + ?Sized> DisplayError for E {
    #[inline]
    fn render(&self) -> String {
        render::display(self)
    }
}

/// Renders an error with [`DisplayError`].
#[must_use]
pub fn display_error<E: DisplayError + ?Sized>(error: &E) -> String {
    error.render()
}

/// The error of a traced function with `err(Debug)`, rendered with `Debug`.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` does not implement `Debug`",
    label = "`err(Debug)` records the error of a failed run with `Debug`",
    note = "derive `Debug` for it, or record the error with `Display`: `#[traced_run(err(Display))]`"
)]
pub trait DebugError {
    /// The error as the run's error message.
    fn render(&self) -> String;
}

impl<E: Debug + ?Sized> DebugError for E {
    #[inline]
    fn render(&self) -> String {
        render::debug(self)
    }
}

/// Renders an error with [`DebugError`].
#[must_use]
pub fn debug_error<E: DebugError + ?Sized>(error: &E) -> String {
    error.render()
}

/// The error of a traced function with `err(redact)`: never rendered, its type alone recorded.
#[must_use]
pub fn redacted_error<E: ?Sized>(_: &E) -> String {
    REDACTED_MESSAGE.to_owned()
}

/// Ends the run of a function with `err(redact)` that panicked, without the panic's message;
/// the caller resumes the panic after.
pub fn panicked_redacted(guard: RunGuard) {
    report_unraisable(guard.fail_with(|| RunError::new(format!("panicked: {REDACTED_MESSAGE}"), ErrorCause::Panicked)));
}

/// The name of a traced function's runs.
#[derive(Clone, Copy)]
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
    // Inlined with `start`, where a static name is then a constant.
    #[inline]
    fn resolve(&self) -> Cow<'static, str> {
        match *self {
            RunName::Static(name) => Cow::Borrowed(name),
            RunName::Method { type_name, method, cache } => method_run_name(type_name(), method, cache),
        }
    }
}

/// The name of a method's runs, `Type::method`, cached for the first `Self` it is made for.
fn method_run_name(type_name: &'static str, method: &'static str, cache: &'static NameCache) -> Cow<'static, str> {
    let (cached_for, name) = cache.get_or_init(|| (type_name, method_name(type_name, method)));
    // One cache serves every `Self` of a generic or trait default method.
    if std::ptr::eq(*cached_for, type_name) || *cached_for == type_name {
        Cow::Borrowed(name.as_str())
    } else {
        Cow::Owned(method_name(type_name, method))
    }
}

/// `my_crate::chains::MyChain<T>` and `call` make `MyChain::call`.
fn method_name(type_name: &str, method: &str) -> String {
    // Every path in the type name loses its module prefix, so `(a::Calculator, b::Search)`
    // reads `(Calculator, Search)`; generic arguments of a named type are dropped.
    let mut short = String::with_capacity(type_name.len());
    let mut segment_start = 0;
    for (index, c) in type_name.char_indices() {
        if !(c.is_alphanumeric() || c == '_' || c == ':') {
            short.push_str(last_segment(&type_name[segment_start..index]));
            short.push(c);
            segment_start = index + c.len_utf8();
        }
    }
    short.push_str(last_segment(&type_name[segment_start..]));
    let short =
        if short.starts_with(['(', '[', '&', '*']) { &short[..] } else { short.split('<').next().unwrap_or(&short) };
    format!("{short}::{method}")
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// Picks how a handler's request to stop a run reaches the caller of a function returning
/// `R`: as its `Err` when `R` is a `Result` whose error converts from [`CallbackError`],
/// else as a warning, the function going on. Resolved at compile time by autoref: the
/// expansion takes `(&Stop::<R>::NEW).stopper()` with both traits in scope.
pub struct Stop<R>(PhantomData<fn() -> R>);

impl<R> Stop<R> {
    /// The selector for functions returning `R`: a constant, not a constructor, so that a
    /// debug build makes no call for it.
    pub const NEW: Self = Stop(PhantomData);
}

/// What a handler's stop becomes for a function returning `R`, as [`Stop`] picks it:
/// `Ok(early return value)`, or `Err(error)` to be reported.
pub type Stopper<R> = fn(CallbackError) -> Result<R, CallbackError>;

/// The `Result` arm of [`Stop`].
pub trait StopByReturning {
    /// The function's return type.
    type Output;
    /// The function that gives `Ok(early return value)`: this arm always carries the error
    /// to the caller.
    fn stopper(&self) -> Stopper<Self::Output>;
}

impl<T, E: From<CallbackError>> StopByReturning for Stop<Result<T, E>> {
    type Output = Result<T, E>;

    fn stopper(&self) -> Stopper<Self::Output> {
        |error| Ok(Err(E::from(error)))
    }
}

/// The fallback arm of [`Stop`].
pub trait StopByReporting {
    /// The function's return type.
    type Output;
    /// The function that gives `Err(error)`: this arm always hands the error back to be
    /// reported.
    fn stopper(&self) -> Stopper<Self::Output>;
}

impl<R> StopByReporting for &Stop<R> {
    type Output = R;

    fn stopper(&self) -> Stopper<R> {
        reported
    }
}

/// The stop of a function whose return type the expansion cannot name: reported, as by
/// [`StopByReporting`].
///
/// # Errors
///
/// Always: the error goes back to be reported.
pub fn reported<R>(error: CallbackError) -> Result<R, CallbackError> {
    Err(error)
}

/// The early return value when the stop reaches the caller; else reports and gives `None`.
#[must_use]
pub fn stopped<R>(stop: Result<R, CallbackError>) -> Option<R> {
    match stop {
        Ok(early) => Some(early),
        Err(error) => {
            // A refused start leaves the call untraced; a handler's stop leaves it running.
            let (what, outcome) = match error {
                CallbackError::RunIdInUse { .. } => ("a run could not start in", "it runs untraced"),
                _ => ("a handler asked to stop a run of", "it goes on"),
            };
            warn_once(
                &format!("unstoppable: {what} {}", handler_of(&error)),
                &format_args!(
                    "{what} a function that cannot return the error (its return type is not a Result \
                     whose error implements From<CallbackError>); {outcome}: {error}"
                ),
            );
            None
        }
    }
}

/// The request of `model = ..` and `provider = ..`.
#[must_use]
pub fn model_request(model: Option<String>, provider: Option<String>) -> ModelRequest {
    ModelRequest { model, provider, ..ModelRequest::default() }
}

requirement! {
    /// A value of `model = ..` or `provider = ..` must be `Display`.
    ModelName: Display,
    "`{Self}` cannot name a model or a provider: it does not implement `Display`",
    "`model` and `provider` are recorded as text",
    "pass the name, such as `model = self.model` for a `String` field, or `provider = \"openai\"`"
}

/// The text of a `model = ..` or `provider = ..` value.
#[inline]
#[must_use]
pub fn model_name<T: ModelName + ?Sized>(value: &T) -> String {
    value.to_string()
}
