//! The `#[traced_run]` attribute of [runtrace](https://docs.rs/runtrace). Use it through
//! `runtrace`, which re-exports it; its documentation is the manual.
#![deny(missing_docs)]

mod attr;
mod errors;
mod expand;
mod fallback;
mod respan;
mod signature;
mod stream;
mod valid;

use proc_macro::TokenStream;

/// Turns a function into a traced *run*: every handler of the callbacks it is called with
/// hears it start, stream, and end or fail, and the traced functions it calls with its `run`
/// become its child runs.
///
/// ```
/// use std::sync::Arc;
/// use runtrace::prelude::*;
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("the calculator cannot read `{0}`")]
///     Parse(String),
///     #[error(transparent)]
///     Callback(#[from] CallbackError), // lets a handler stop the run
/// }
///
/// #[traced_run(kind = "tool", name = "calculator")]
/// async fn calculator(expr: String) -> Result<f64, AppError> {
///     let terms: Result<Vec<f64>, _> = expr.split('+').map(|t| t.trim().parse::<f64>()).collect();
///     Ok(terms.map_err(|_| AppError::Parse(expr.clone()))?.iter().sum())
/// }
///
/// #[traced_run(kind = "llm")]
/// async fn fake_llm(prompt: String, run: &RunManager) -> Result<String, AppError> {
///     for token in ["The ", "answer ", "is ", "4"] {
///         run.on_llm_new_token(token)?; // streamed to every handler
///     }
///     Ok("The answer is 4".into())
/// }
///
/// #[traced_run(kind = "chain")]
/// async fn answer(question: String, run: &RunManager) -> Result<String, AppError> {
///     let sum = calculator("2 + 2".into(), run).await?; // pass *your* run: a child run
///     fake_llm(format!("{question} (the calculator says {sum})"), run).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AppError> {
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// answer("What is 2 + 2?".into(), &callbacks).await?;
///
/// let names: Vec<_> = recorder.runs().iter().map(|run| run.name.to_string()).collect();
/// assert_eq!(names, ["answer", "calculator", "fake_llm"]);
///
/// // No handlers: the same call, at next to no cost.
/// answer("What is 2 + 2?".into(), CallbackManager::none()).await?;
/// # Ok(()) }
/// ```
///
/// # What to pass
///
/// The function's run-manager parameter (`run: &RunManager`) becomes, in its signature, the
/// *parent* of the new run. Pass
/// - a parent's `run`: the new run is its child;
/// - a [`CallbackManager`] with handlers for this request (`&callbacks`, or `callbacks` by
///   value): the new run is a root and every run nested in it reports to those handlers;
/// - `CallbackManager::none()`: no handlers of its own; unless a tracer's scope,
///   `RUNTRACE_TRACE` or an exporter's zero-code switch hears it, the call costs a few
///   nanoseconds more than the plain function.
///
/// A function without a `self` receiver takes `impl AsParent`, which all of these are. A
/// method takes `&dyn AsParent`, so that traits with traced methods stay object-safe; callers
/// pass the same things (`run`, `&callbacks`, `CallbackManager::none()`), though a manager
/// by value must be borrowed there.
///
/// Inside the body, the parameter is the `&RunManager` of this run. A function that declares
/// no run-manager parameter gets one appended, named `callbacks`; declare `run: &RunManager`
/// to stream events or start child runs.
///
/// # What happens
///
/// The expansion keeps your signature (but for that parameter) and wraps your body:
/// 1. a run starts: with no handlers this is one branch, with no id drawn, no clock read and
///    nothing serialized;
/// 2. your body runs unchanged, in a closure (sync fns) or an `async move` block (async fns)
///    typed by your return type, so `return`, `?` and type errors behave as before;
/// 3. the run ends with exactly one event: the output for `Ok(..)` or a plain value; the
///    error for `Err(..)`; `panicked: <message>` for a panic, which then goes on; and, when
///    the future of an `async fn` is dropped before it finishes (a timeout, a client that
///    went away), `cancelled`.
///
/// An `async fn`'s future stays `Send` when it was: the run's state is `Send + Sync`.
///
/// The run's start and end are made in functions of their own, so a traced call keeps
/// little on the stack while its body runs: in an optimized build, a level of traced
/// recursion takes about three times the stack of the plain function, and recursion 10,000
/// levels deep fits in a thread's default 2 MiB stack, sync or async, whether handlers hear
/// it or not. An unoptimized build takes several times more stack a level, traced or not.
/// The figures are in the benchmarks' README (`benches/README.md`).
///
/// # With `tracing`
///
/// With a [`TracingBridge`](https://docs.rs/runtrace/latest/runtrace/handlers/struct.TracingBridge.html)
/// among the run's handlers, each run is a `tracing` span, current while the body runs (each
/// poll of an `async fn`), so `tracing::info!` in the body and the spans of the libraries it
/// calls nest under the run. Until a bridge is made in the process, a heard run checks one
/// flag and a run no handler hears not even that.
///
/// `#[tracing::instrument]` stacks with `#[traced_run]` either way, making a second span per
/// call. Attributes expand from the top, each keeping those below it, so the lower one wraps
/// the upper one's code:
/// - `#[tracing::instrument]` written *above* `#[traced_run]`: the run starts first and the
///   instrument span is made inside it, a child of the run's span; the body logs in the
///   instrument span.
/// - `#[tracing::instrument]` written *below* `#[traced_run]`: the instrument span wraps the
///   whole traced call; the run's span is its child, and the body logs in the run's span.
///
/// With OpenTelemetry, export runs with `runtrace-otel` and not also the bridge's spans
/// through `tracing-opentelemetry`, or the same run is exported twice.
///
/// # Inputs and outputs
///
/// Arguments are recorded as a JSON object `{argument: value}` through `serde`, the output as
/// JSON, both only when a handler reads them. A recorded value must implement
/// `serde::Serialize + Sync`; for an argument that does not, `skip` it (the compile error
/// says so), for an output, use `skip_output`. `self` is never recorded. The inputs object
/// lists arguments in key order (serde_json's map), unless your build enables serde_json's
/// `preserve_order`.
///
/// Where JSON cannot hold a value as it is, the record says so instead of failing:
/// - a value nested deeper than 128 levels (each struct, enum variant with data, sequence,
///   tuple, map, `Some` and newtype is a level) is recorded down to level 128, and what is
///   deeper as the string `"<cut: nested deeper than 128>"`, its `Serialize` not called;
/// - `f32` and `f64` NaN and infinities, which JSON numbers cannot be, are recorded as the
///   strings `"NaN"`, `"inf"` and `"-inf"` (serde_json alone would write `null`);
/// - a value whose `Serialize` fails or panics is recorded as a string starting
///   `"<unrecordable: "` saying why.
///
/// Metadata values and custom events' data are recorded the same way.
///
/// # Errors and handlers that stop runs
///
/// A function returning a `Result` ends its run by its variant: `Ok` ends it with the value,
/// `Err` fails it. That holds behind an alias too (`type ApiResult<T> = Result<T, ApiError>`),
/// which the compiler, not the macro, tells apart: any return type but std's scalars,
/// strings, containers and `Option`, references and tuples is asked whether it is a
/// `Result` (a generic `T` is none, whatever it is at a call). A handler that opted in to raising
/// (`CallbackHandler::raise_error`) can stop a run: at the start (the body never runs) or at
/// the end, its [`CallbackError`] becomes the function's `Err` when `E: From<CallbackError>`
/// (derive it with `thiserror`'s `#[from]`; `anyhow::Error` and
/// `Box<dyn Error + Send + Sync>` accept it as they are). Other functions cannot carry the
/// error: it is reported as a warning and they go on, untraced — their run already got its
/// error event, so the body and the runs it starts are heard by no handler. Inside the body,
/// `run.on_llm_new_token(t)?` returns it like any other error.
///
/// The error event records the error's Rust type and its message. An error whose `Display`
/// (or, with `err(Debug)`, `Debug`) panics or returns `fmt::Error` is recorded as
/// `"<unrenderable: its Display impl panicked>"` (or `"... returned an error"`), and the
/// function still returns it.
///
/// # What `redact` covers
///
/// `redact(arg)` and `redact_output` keep a value out of what runtrace records of *this*
/// run: its inputs and its `Ok` output, in every handler (the console, the tracer and its
/// exports, a recorder, background handlers); the value is never serialized. `err(redact)`
/// does the same for the messages of the run's `Err` and of its panics, recording
/// `"[REDACTED]"` and the error's type; on a function that does not return `Result`, it
/// covers panics.
///
/// What the function does with the value itself is not covered, since runtrace cannot see
/// it there:
/// - an `Err` or a panic whose message names it, without `err(redact)`;
/// - the panic message as the panic hook prints it to standard error (runtrace records only
///   its own copy); a panic message cannot be redacted in part, keeping the rest, since the
///   message is text made by the code that panicked;
/// - a custom event, a token, text or metadata that the function sends with the value in it;
/// - a traced function it passes the value to, which records its own arguments: redact it
///   there too.
///
/// # Options
///
/// | option | effect |
/// |---|---|
/// | `kind = "tool"` | the run kind: `chain` (default), `llm`, `chat_model`, `tool`, `retriever`, `agent`, `embedding`, `parser`, `prompt`, `custom` |
/// | `name = "calculator"` | the run name; default: the function's name, `Type::method` for methods |
/// | `tags("a", "b")` | tags of this run (local: not inherited by child runs) |
/// | `metadata(model = "gpt-4o", temperature = t)` | metadata of this run (local); values are expressions, evaluated only when a handler listens |
/// | `skip(arg, ..)` / `skip_all` | arguments left out of the inputs |
/// | `redact(arg, ..)` | arguments recorded as `"[REDACTED]"` |
/// | `skip_output` / `redact_output` | the output recorded as `null` / `"[REDACTED]"` |
/// | `err(Display)` / `err(Debug)` / `err(redact)` | how an `Err` is recorded in the error event: its `Display` (the default), its `Debug`, or `"[REDACTED]"` with its type; `err(redact)` records a panic as `"panicked: [REDACTED]"` too |
/// | `callbacks = expr` | constructor callbacks (a `CallbackManager`): handlers of this run only, not of its children |
/// | `verbose = expr` | a `bool`; when true, adds the console handler to this run only |
/// | `model = expr`, `provider = expr` | a model run's model and provider (`Display` values, such as `self.model`), in its start event; only on `llm`, `chat_model`, `embedding` runs, evaluated only when a handler listens |
/// | `stream` | the function returns a stream behind a type alias (see [Streams](#streams)); written types are recognised without it |
/// | `tokens` / `tokens = path` | for a stream: each item (its `Ok` value) is streamed as a token, or what `path(&item)` gives (`&str`, `String`, `Option<..>` of them: `None` sends none) |
/// | `reduce = path` | for a stream: the run's output is `path(items)`, from the JSON of its items (LangSmith's `reduce_fn`) |
/// | `crate = path` | where runtrace is, for crates that re-export it |
///
/// ```
/// use std::sync::Arc;
/// use runtrace::prelude::*;
///
/// struct Retriever {
///     index: String,
///     callbacks: CallbackManager, // constructor callbacks: this object's runs only
///     verbose: bool,
/// }
///
/// impl Retriever {
///     #[traced_run(
///         kind = "retriever",
///         tags("search"),
///         metadata(index = self.index.clone(), top_k = 3),
///         redact(api_key),
///         callbacks = self.callbacks,
///         verbose = self.verbose,
///     )]
///     fn search(&self, query: &str, api_key: &str) -> Vec<String> {
///         let _ = api_key;
///         vec![format!("{}: {query}", self.index)]
///     }
/// }
///
/// let mine = Arc::new(RecordingHandler::new());
/// let retriever = Retriever {
///     index: "docs".into(),
///     callbacks: CallbackManager::new().with_handler(mine.clone()),
///     verbose: false,
/// };
/// retriever.search("rust callbacks", "sk-secret", CallbackManager::none());
///
/// let events = mine.events();
/// let EventData::Start(start) = &events[0].data else { unreachable!() };
/// assert_eq!(events[0].run.name, "Retriever::search");
/// assert_eq!(start.inputs.get(), &serde_json::json!({"query": "rust callbacks", "api_key": "[REDACTED]"}));
/// assert_eq!(&start.tags[..], ["search"]);
/// assert_eq!(start.metadata.get("top_k"), Some(&serde_json::json!(3)));
/// ```
///
/// # Model runs
///
/// A model run (`kind = "llm"`, `"chat_model"` or `"embedding"`) carries typed model data.
/// What is known at the call goes in options: `model = self.model, provider = "openai"`.
/// What the response knows comes with no code at the call: a function returning a type that
/// implements `runtrace::event::ModelOutput` (as `Ok` value or plain value) records its usage
/// and response in the run's end event. What becomes known while the run goes on (a
/// stream's final chunk) is reported on the run: `run.report_usage(usage)?`, which a token
/// budget can answer by stopping the run.
///
/// ```
/// use std::sync::Arc;
/// use runtrace::event::{ModelOutput, Usage};
/// use runtrace::handlers::UsageTracker;
/// use runtrace::prelude::*;
///
/// #[derive(serde::Serialize)]
/// struct Completion { text: String, prompt_tokens: u64, completion_tokens: u64 }
///
/// impl ModelOutput for Completion {
///     fn usage(&self) -> Option<Usage> {
///         Some(Usage::new(self.prompt_tokens, self.completion_tokens))
///     }
/// }
///
/// struct Client { model: String }
///
/// impl Client {
///     #[traced_run(kind = "chat_model", model = self.model, provider = "openai")]
///     fn complete(&self, prompt: &str) -> Completion {
///         Completion { text: format!("echo: {prompt}"), prompt_tokens: 7, completion_tokens: 2 }
///     }
/// }
///
/// let tracker = Arc::new(UsageTracker::new());
/// let client = Client { model: "gpt-4o-mini".into() };
/// client.complete("hi", &CallbackManager::new().with_handler(tracker.clone()));
/// assert_eq!(tracker.usage_by_model()["gpt-4o-mini"], Usage::new(7, 2));
/// ```
///
/// # Trait objects
///
/// Because the parameter is a `&dyn AsParent`, traced methods stay object-safe: declare the
/// trait method with it, and trace the implementations.
///
/// ```
/// use std::sync::Arc;
/// use runtrace::prelude::*;
///
/// trait Tool: Send + Sync {
///     fn call(&self, input: &str, parent: &dyn AsParent) -> String;
/// }
///
/// struct Shout;
///
/// impl Tool for Shout {
///     #[traced_run(kind = "tool")]
///     fn call(&self, input: &str, run: &RunManager) -> String {
///         run.on_text("shouting").ok();
///         input.to_uppercase()
///     }
/// }
///
/// let tools: Vec<Box<dyn Tool>> = vec![Box::new(Shout)];
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// assert_eq!(tools[0].call("hi", &callbacks), "HI");
/// assert_eq!(recorder.runs()[0].name, "Shout::call");
/// ```
///
/// `#[traced_run]` on a trait method *declaration* only rewrites its signature, so that the
/// trait and its traced implementations can both be written with `run: &RunManager`.
///
/// An `async` method is not object-safe; with `#[async_trait]` it is. Keep `#[async_trait]`
/// on the trait and on the impl block, and put `#[traced_run]` on the methods inside both:
/// `#[async_trait]` runs first and hands each method over as a function returning
/// `Pin<Box<dyn Future>>`, whose run starts at the call and ends when the future finishes,
/// with `run` bound inside the future. (`#[traced_run]` above `#[async_trait]` on the block is
/// a compile error saying so.)
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use runtrace::prelude::*;
///
/// #[async_trait]
/// trait Retriever: Send + Sync {
///     #[traced_run]
///     async fn retrieve(&self, query: &str, run: &RunManager) -> Vec<String>;
/// }
///
/// struct Docs;
///
/// #[async_trait]
/// impl Retriever for Docs {
///     #[traced_run(kind = "retriever")]
///     async fn retrieve(&self, query: &str, run: &RunManager) -> Vec<String> {
///         run.on_text("searching").ok();
///         vec![format!("doc about {query}")]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let retriever: Arc<dyn Retriever> = Arc::new(Docs);
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// retriever.retrieve("callbacks", &callbacks).await;
/// assert_eq!(recorder.runs()[0].name, "Docs::retrieve");
/// assert_eq!(recorder.events().len(), 3, "start, text, end: the end came with the future");
/// # }
/// ```
///
/// Any traced function returning a boxed future (`Pin<Box<dyn Future<Output = T> ..>>`,
/// `BoxFuture<'a, T>`) keeps its run open until the future finishes, and records `T` as an
/// `async fn` would. Its body may take `run` only when it is `Box::pin(async move { .. })`,
/// the shape `#[async_trait]` writes; otherwise the future outlives the run that `run` is.
///
/// # Streams
///
/// A function (sync or `async`) returning a stream keeps its run open until the stream
/// ends (the end event), yields an `Err` (the error event, when the items are `Result`s; the
/// items go on to the caller unrecorded), or is dropped unfinished (a cancelled error
/// event, as for a dropped future). A panic in the stream fails its run, then goes on.
/// Recognised from the written return type: `impl Stream<Item = T>`,
/// `Pin<Box<dyn Stream<Item = T> ..>>`, `BoxStream<'a, T>`, `LocalBoxStream<'a, T>`; add
/// `stream` for an alias of a boxed stream, such as a model client's
/// `type ChatStream = Pin<Box<dyn Stream<Item = Result<Chunk, ApiError>> + Send>>`. Its
/// items are told apart at compile time, as are written items that may be a `Result` behind
/// an alias (`impl Stream<Item = ApiResult<Chunk>>`): when they are `Result`s, `Err` items
/// fail the run and the `Ok` values are what is recorded and streamed as tokens, as for a
/// written `Result` item type.
///
/// - The output is the items' concatenation when they are all strings, else their list;
///   `reduce = path` makes it from the list of their JSON; `skip_output` and
///   `redact_output` keep none. Items must be recordable, as outputs are.
/// - `tokens` streams each item as a token (`tokens = path` picks its text).
/// - On a model run, the first item's time is the time to first token, and an item that is
///   a `ModelOutput` reports its usage and response: a final chunk's usage replaces the
///   running total, so it counts once.
/// - A handler that raises on an item's token or usage stops the run: the stream yields
///   `Err(E::from(error))` in place of that item and ends, when its items are a `Result`
///   whose `E` implements `From<CallbackError>`; other streams go on, and a warning says so.
/// - Child runs started while the stream is made are the run's children; each poll enters
///   the run's span for `TracingBridge`. When no handler listens, the stream is returned
///   as it is (boxed) or behind one check per item (`impl Stream`).
/// - A free function returning `impl Stream` takes its parent as `&dyn AsParent` and its
///   stream captures only the function's own generic parameters (`+ use<..>` is added when
///   none is written), so the stream can outlive the `run` or the manager it was made
///   with; name a lifetime for a stream that borrows an argument. A method, or a function
///   with an `impl Trait` argument, keeps its usual parent and captures; write
///   `+ use<..>` on its return type for a stream that outlives the call's borrows.
///
/// ```
/// use std::sync::Arc;
/// use futures::stream::{self, Stream, StreamExt as _};
/// use runtrace::prelude::*;
///
/// #[traced_run(kind = "llm", tokens)]
/// fn complete(prompt: &str) -> impl Stream<Item = String> + use<> {
///     stream::iter(prompt.split(' ').map(|word| format!("{word} ")).collect::<Vec<_>>())
/// }
///
/// # futures::executor::block_on(async {
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// let words: Vec<String> = complete("Hello there", &callbacks).collect().await;
/// assert_eq!(words, ["Hello ", "there "]);
///
/// let events = recorder.events();
/// assert_eq!(events.len(), 4, "start, two tokens, end: the run ended with the stream");
/// let EventData::End(end) = &events[3].data else { unreachable!() };
/// assert_eq!(end.outputs.get(), "Hello there ");
/// assert!(end.model.as_ref().is_some_and(|model| model.time_to_first_token.is_some()));
/// # });
/// ```
///
/// # Misuse
///
/// Unknown or duplicate options, an unknown kind, stream options on a function that returns
/// no stream, `tokens` on items that are not text, `skip` or `redact` of a missing argument, two
/// run-manager parameters, an unrecordable argument, and attributes on items that are not
/// functions (or on `const` and `extern` fns) are compile errors on your own tokens, all
/// reported at once; the function is still emitted, so the rest of your code keeps compiling.
///
/// [`CallbackManager`]: https://docs.rs/runtrace/latest/runtrace/struct.CallbackManager.html
/// [`CallbackError`]: https://docs.rs/runtrace/latest/runtrace/enum.CallbackError.html
#[proc_macro_attribute]
pub fn traced_run(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced_run(args.into(), item.into()).into()
}
