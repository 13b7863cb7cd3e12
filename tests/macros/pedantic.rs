#![deny(
    warnings,
    clippy::all,
    clippy::pedantic,
    unused_qualifications,
    trivial_casts,
    trivial_numeric_casts,
    unused_results,
    unused_lifetimes,
    single_use_lifetimes,
    unreachable_pub,
    unsafe_code,
    variant_size_differences
)]
//! Every option and form of `#[traced_run]`, compiled under `clippy::pedantic` and the
//! allow-by-default rustc lints a crate may deny, and run: the
//! expansion raises no lint of its own, and what it records is checked through a
//! `RecordingHandler`.

use std::io;
use std::sync::Arc;

use runtrace::event::{EventType, RunInfo};
use runtrace::prelude::*;
use serde_json::{Value, json};

/// An error type that converts from `CallbackError`, so a raising handler can stop the run.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("cannot divide {0} by zero")]
    DivisionByZero(f64),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// An error type that only has `Debug`.
#[derive(Debug)]
struct Refusal {
    reason: &'static str,
}

/// Re-exports runtrace under another name, for `crate = ...`.
mod deps {
    pub(super) use runtrace as tracing_kit;
}

#[traced_run(kind = "tool", name = "calculator", tags("math", "fast"), metadata(precision = 2, unit = "none"))]
fn divide(a: f64, b: f64) -> Result<f64, ToolError> {
    if b == 0.0 {
        return Err(ToolError::DivisionByZero(a));
    }
    Ok(a / b)
}

#[traced_run(kind = "llm", skip(api_key), redact(prompt), err(Debug))]
async fn complete(prompt: String, api_key: String, run: &RunManager) -> Result<String, Refusal> {
    if api_key.is_empty() {
        return Err(Refusal { reason: "no key" });
    }
    for token in prompt.split(' ') {
        run.on_llm_new_token(token).map_err(|_| Refusal { reason: "stopped" })?;
    }
    Ok(prompt.to_uppercase())
}

#[traced_run(kind = "retriever", skip_all, redact_output)]
fn search(query: &str, limit: usize) -> Vec<String> {
    query.split(' ').take(limit).map(str::to_owned).collect()
}

#[traced_run(kind = "parser", skip_output, err(Display))]
fn read_config(path: &str) -> io::Result<String> {
    if path.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "empty path"));
    }
    Ok(path.to_owned())
}

/// An error with neither `Display` nor `Debug`, which `err(redact)` never renders.
struct Sealed;

#[traced_run(kind = "tool", redact(key), err(redact))]
fn unseal(key: &str) -> Result<usize, Sealed> {
    if key.is_empty() { Err(Sealed) } else { Ok(key.len()) }
}

#[traced_run(kind = "tool", redact(key), err(redact))]
async fn key_length(key: &str) -> usize {
    key.len()
}

#[traced_run(kind = "parser")]
fn parse_sum(text: &str) -> Result<u32, std::num::ParseIntError> {
    let mut sum = 0;
    for part in text.split('+') {
        sum += part.trim().parse::<u32>()?;
    }
    Ok(sum)
}

#[traced_run(kind = "parser")]
fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or_default()
}

#[traced_run(kind = "embedding")]
fn embed<T>(items: &[T], scale: impl Into<f64> + serde::Serialize + Sync) -> Vec<f64>
where
    T: AsRef<str> + serde::Serialize + Sync,
{
    let scale = scale.into();
    items.iter().map(|item| f64::from(u32::try_from(item.as_ref().len()).unwrap_or(u32::MAX)) * scale).collect()
}

#[traced_run(kind = "prompt")]
fn configured(always: u8, #[cfg(any())] never: String, #[cfg(not(any()))] present: u8) -> u8 {
    always + present
}

#[traced_run(kind = "custom", metadata(r#type = "raw"))]
fn r#match(r#type: u8) -> u8 {
    r#type
}

#[traced_run(kind = "tool", crate = deps::tracing_kit)]
fn through_reexport(x: u8, run: &deps::tracing_kit::RunManager) -> u8 {
    assert!(run.is_recording());
    x
}

#[traced_run(kind = "llm", skip_output)]
async fn deferred(n: u32) -> impl Future<Output = u32> {
    async move { n * 2 }
}

// A one-line body, as `fn_single_line` formats it: the braces are the user's, not needless.
#[rustfmt::skip]
#[traced_run(kind = "tool")]
async fn one_line(x: u8) -> u8 { x + 1 }

#[traced_run(kind = "tool")]
fn unit_return(x: u8) {
    assert_eq!(x, 1);
}

/// A tool behind `Box<dyn Tool>`.
trait Tool: Send + Sync {
    #[traced_run]
    fn call(&self, input: &str, run: &RunManager) -> Result<String, ToolError>;
}

struct Echo;

impl Tool for Echo {
    #[traced_run(kind = "tool", name = "echo")]
    fn call(&self, input: &str, run: &RunManager) -> Result<String, ToolError> {
        run.on_text(input)?;
        Ok(input.to_owned())
    }
}

/// A chain with constructor callbacks and a verbosity switch.
struct Agent {
    steps: u32,
    verbose: bool,
    callbacks: CallbackManager,
}

impl Agent {
    #[traced_run(kind = "agent", skip(tools), callbacks = self.callbacks, verbose = self.verbose)]
    fn step(&mut self, tools: &[Box<dyn Tool>], input: &str, run: &RunManager) -> Result<Vec<String>, ToolError> {
        self.steps += 1;
        tools.iter().map(|tool| tool.call(input, run)).collect()
    }

    #[traced_run(kind = "chain")]
    async fn plan(&self, goal: String, run: &RunManager) -> Result<String, ToolError> {
        let half = divide(f64::from(self.steps), 2.0, run)?;
        Ok(format!("{goal} in {half} steps"))
    }

    #[traced_run(kind = "chain", skip_output)]
    fn finish(self) -> u32 {
        self.steps
    }
}

fn recording() -> (Arc<RecordingHandler>, CallbackManager) {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    (recorder, callbacks)
}

fn names(recorder: &RecordingHandler) -> Vec<String> {
    recorder.runs().into_iter().map(|run: RunInfo| run.name.into_owned()).collect()
}

/// The inputs, tags and metadata of each start event, and the outputs of each end event.
fn starts(recorder: &RecordingHandler) -> Vec<(Value, Vec<String>, Value)> {
    recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            EventData::Start(start) => Some((
                start.inputs.get().clone(),
                start.tags.iter().map(ToString::to_string).collect(),
                serde_json::to_value(&start.metadata).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn ends(recorder: &RecordingHandler) -> Vec<Value> {
    recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            EventData::End(end) => Some(end.outputs.get().clone()),
            _ => None,
        })
        .collect()
}

fn errors(recorder: &RecordingHandler) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            EventData::Error(error) => Some(error.message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn name_tags_and_metadata_are_recorded() {
    let (recorder, callbacks) = recording();
    assert!(matches!(divide(1.0, 0.0, &callbacks), Err(ToolError::DivisionByZero(_))));
    assert_eq!(names(&recorder), ["calculator"]);
    let (inputs, tags, metadata) = &starts(&recorder)[0];
    assert_eq!(*inputs, json!({"a": 1.0, "b": 0.0}));
    assert_eq!(*tags, ["math", "fast"]);
    assert_eq!(*metadata, json!({"precision": 2, "unit": "none"}));
    assert_eq!(errors(&recorder), ["cannot divide 1 by zero"]);
}

#[test]
fn skip_redact_and_err_debug_shape_the_record() {
    let (recorder, callbacks) = recording();
    let reply = futures::executor::block_on(complete("hi there".into(), "k".into(), &callbacks));
    assert_eq!(reply.ok().as_deref(), Some("HI THERE"));
    let refused = futures::executor::block_on(complete("x".into(), String::new(), &callbacks));
    assert_eq!(refused.err().map(|refusal| refusal.reason), Some("no key"));

    assert_eq!(starts(&recorder)[0].0, json!({"prompt": "[REDACTED]"}));
    assert_eq!(ends(&recorder), [json!("HI THERE")]);
    assert_eq!(errors(&recorder), [r#"Refusal { reason: "no key" }"#]);
    let tokens = recorder.event_types().iter().filter(|kind| **kind == EventType::NewToken).count();
    assert_eq!(tokens, 2);
}

#[test]
fn skip_all_redact_output_and_skip_output_hide_values() {
    let (recorder, callbacks) = recording();
    assert_eq!(search("a b c", 2, &callbacks), ["a", "b"]);
    assert_eq!(read_config("app.toml", &callbacks).ok().as_deref(), Some("app.toml"));
    assert!(read_config("", &callbacks).is_err());

    assert_eq!(starts(&recorder)[0].0, json!({}));
    assert_eq!(ends(&recorder), [json!("[REDACTED]"), Value::Null]);
    assert_eq!(errors(&recorder), ["empty path"]);
}

#[test]
fn err_redact_records_the_error_as_redacted_on_results_and_plain_values() {
    let (recorder, callbacks) = recording();
    assert_eq!(unseal("sk-1", &callbacks).ok(), Some(4));
    assert!(unseal("", &callbacks).is_err());
    assert_eq!(futures::executor::block_on(key_length("sk-1", &callbacks)), 4);

    assert_eq!(ends(&recorder), [json!(4), json!(4)]);
    assert_eq!(errors(&recorder), ["[REDACTED]"]);
}

#[test]
fn question_mark_early_return_lifetimes_generics_and_cfg() {
    let (recorder, callbacks) = recording();
    assert_eq!(parse_sum("1 + 2", &callbacks).ok(), Some(3));
    assert!(parse_sum("1 + x", &callbacks).is_err());
    assert_eq!(first_word("hello world", &callbacks), "hello");
    assert_eq!(embed(&["ab", "c"], 2.0_f32, &callbacks), [4.0, 2.0]);
    assert_eq!(configured(1, 2, &callbacks), 3);
    assert_eq!(r#match(7, &callbacks), 7);
    unit_return(1, &callbacks);
    assert_eq!(futures::executor::block_on(futures::executor::block_on(deferred(2, &callbacks))), 4);
    assert_eq!(futures::executor::block_on(one_line(1, &callbacks)), 2);

    assert_eq!(
        names(&recorder),
        ["parse_sum", "parse_sum", "first_word", "embed", "configured", "match", "unit_return", "deferred", "one_line"]
    );
    let starts = starts(&recorder);
    assert_eq!(starts[3].0, json!({"items": ["ab", "c"], "scale": 2.0}));
    assert_eq!(starts[4].0, json!({"always": 1, "present": 2}));
    assert_eq!(starts[5].0, json!({"type": 7}));
    assert_eq!(starts[5].2, json!({"type": "raw"}));
    assert_eq!(
        ends(&recorder),
        [json!(3), json!("hello"), json!([4.0, 2.0]), json!(3), json!(7), Value::Null, Value::Null, json!(2)]
    );
}

#[test]
fn crate_override_reaches_the_runtime_through_the_reexport() {
    let (recorder, callbacks) = recording();
    assert_eq!(through_reexport(4, &callbacks), 4);
    assert_eq!(names(&recorder), ["through_reexport"]);
}

#[test]
fn methods_trait_objects_and_constructor_callbacks() {
    let (request, callbacks) = recording();
    let constructor = Arc::new(RecordingHandler::new());
    let mut agent =
        Agent { steps: 0, verbose: false, callbacks: CallbackManager::new().with_handler(constructor.clone()) };
    let tools: Vec<Box<dyn Tool>> = vec![Box::new(Echo)];

    assert_eq!(agent.step(&tools, "hi", &callbacks).ok(), Some(vec!["hi".to_owned()]));
    let plan = futures::executor::block_on(agent.plan("ship".into(), &callbacks));
    assert_eq!(plan.ok().as_deref(), Some("ship in 0.5 steps"));
    assert_eq!(agent.finish(&callbacks), 1);

    assert_eq!(names(&request), ["Agent::step", "echo", "Agent::plan", "calculator", "Agent::finish"]);
    // Constructor callbacks are local: they hear the agent's own run, not its children.
    assert_eq!(names(&constructor), ["Agent::step"]);
    let runs = request.runs();
    assert_eq!(runs[1].parent_run_id, Some(runs[0].run_id));
    assert_eq!(runs[3].parent_run_id, Some(runs[2].run_id));
}

fn chunk_text(chunk: &(u32, &'static str)) -> &'static str {
    chunk.1
}

fn count_chunks(chunks: Vec<Value>) -> usize {
    chunks.into_iter().filter(Value::is_array).count()
}

#[traced_run(kind = "llm", tokens = chunk_text, reduce = count_chunks, err(Debug))]
fn stream_chunks(n: u32) -> impl futures::Stream<Item = Result<(u32, &'static str), Refusal>> {
    futures::stream::iter((0..n).map(|i| Ok((i, "tok"))))
}

#[traced_run(kind = "chain", tokens, redact_output)]
async fn boxed_words() -> std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>> {
    Box::pin(futures::stream::iter(vec!["a".to_owned()]))
}

/// A result alias, whose name the macro cannot read as a `Result`.
type Checked<T> = Result<T, ToolError>;

#[traced_run(kind = "tool", err(Debug))]
fn halve(x: f64) -> Checked<f64> {
    if x == 0.0 { Err(ToolError::DivisionByZero(x)) } else { Ok(x / 2.0) }
}

/// A result alias reached by a path, and one through a bound.
mod api {
    pub(super) type Reply<T> = Result<T, super::ToolError>;
}

#[traced_run(kind = "tool", err(Debug))]
fn quarter(x: f64) -> api::Reply<f64> {
    halve(x, CallbackManager::none()).and_then(|half| halve(half, CallbackManager::none()))
}

#[traced_run(kind = "tool", skip(make), err(Debug))]
fn made<F: FnOnce() -> api::Reply<f64>>(make: F) -> F::Output {
    make()
}

#[test]
fn result_aliases_by_path_or_bound_fail_their_runs_on_err() {
    let (recorder, callbacks) = recording();
    assert!(quarter(0.0, &callbacks).is_err());
    assert!(made(|| quarter(0.0, CallbackManager::none()), &callbacks).is_err());
    assert_eq!(made(|| quarter(4.0, CallbackManager::none()), &callbacks).ok(), Some(1.0));
    let failed = recorder.events().into_iter().filter(|event| matches!(event.data, EventData::Error(_))).count();
    assert_eq!(failed, 2);
    assert_eq!(ends(&recorder), [json!(1.0)]);
}

/// A stream whose written items are a result alias, and a result alias of an opaque type.
#[traced_run(kind = "tool", tokens, err(Debug))]
fn halves(xs: Vec<f64>) -> impl futures::Stream<Item = Checked<String>> {
    futures::stream::iter(xs.into_iter().map(|x| halve(x, CallbackManager::none()).map(|half| half.to_string())))
}

#[traced_run(kind = "tool")]
fn opaque_half(x: f64) -> Checked<impl serde::Serialize + Send + Sync> {
    halve(x, CallbackManager::none())
}

#[test]
fn result_alias_items_and_an_opaque_result_alias_fail_their_runs_on_err() {
    use futures::StreamExt as _;
    let (recorder, callbacks) = recording();
    assert_eq!(futures::executor::block_on(halves(vec![3.0, 0.0], &callbacks).count()), 2);
    assert!(opaque_half(0.0, &callbacks).is_err());
    assert!(opaque_half(3.0, &callbacks).is_ok());
    let failed: Vec<String> = recorder
        .events()
        .into_iter()
        .filter_map(|event| match event.data {
            EventData::Error(error) => Some(error.message),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["DivisionByZero(0.0)", "cannot divide 0 by zero"]);
    assert_eq!(ends(&recorder), [json!(1.5)]);
}

#[test]
fn a_result_alias_fails_the_run_on_err() {
    let (recorder, callbacks) = recording();
    assert!(halve(0.0, &callbacks).is_err());
    assert_eq!(halve(3.0, &callbacks).ok(), Some(1.5));
    assert_eq!(ends(&recorder), [json!(1.5)]);
    let failed = recorder.events().into_iter().find_map(|event| match event.data {
        EventData::Error(error) => Some(error.message),
        _ => None,
    });
    assert_eq!(failed.as_deref(), Some("DivisionByZero(0.0)"));
}

/// A stream behind an alias, its items `Result`s with a `Debug`-only error.
type Answers = std::pin::Pin<Box<dyn futures::Stream<Item = Result<String, Refusal>> + Send>>;

#[traced_run(kind = "llm", stream, tokens, err(Debug))]
fn aliased_answers(refuse: bool) -> Answers {
    let answer = if refuse { Err(Refusal { reason: "no" }) } else { Ok("yes".to_owned()) };
    Box::pin(futures::stream::iter(vec![answer]))
}

#[async_trait::async_trait]
trait Lookup {
    #[traced_run]
    async fn lookup(&self, key: u32, run: &RunManager) -> Result<u32, ToolError>;
}

#[async_trait::async_trait]
impl Lookup for Echo {
    #[traced_run(kind = "retriever")]
    async fn lookup(&self, key: u32, run: &RunManager) -> Result<u32, ToolError> {
        run.on_text("looking up")?;
        Ok(key)
    }
}

#[test]
fn streams_and_async_trait_methods() {
    use futures::StreamExt as _;
    let (recorder, callbacks) = recording();
    assert_eq!(futures::executor::block_on(stream_chunks(2, &callbacks).count()), 2);
    let words = futures::executor::block_on(boxed_words(&callbacks));
    assert_eq!(futures::executor::block_on(words.count()), 1);
    assert_eq!(futures::executor::block_on(Echo.lookup(7, &callbacks)).ok(), Some(7));
    assert_eq!(futures::executor::block_on(aliased_answers(false, &callbacks).count()), 1);
    assert_eq!(futures::executor::block_on(aliased_answers(true, &callbacks).count()), 1);
    assert_eq!(
        names(&recorder),
        ["stream_chunks", "boxed_words", "Echo::lookup", "aliased_answers", "aliased_answers"]
    );
    assert_eq!(ends(&recorder), [json!(2), json!("[REDACTED]"), json!(7), json!("yes")]);
    let failed = recorder.events().into_iter().find_map(|event| match event.data {
        EventData::Error(error) => Some(error.message),
        _ => None,
    });
    assert_eq!(failed.as_deref(), Some(r#"Refusal { reason: "no" }"#));
}
