//! Every item form `#[traced_run]` accepts, compiled and run: free fns and methods, sync and
//! async, generic, with `impl Trait` arguments, early returns and `?`, `#[cfg]` parameters,
//! trait methods called through `dyn`, futures sent to other threads; and the inputs each
//! records, `{argument: value}`, serialized only when a handler reads them.

use std::sync::Arc;

use crate::common::{
    Counted, EventCounter, Faulty, ToolError, error_of, inputs, inputs_of, names, outputs, outputs_of, recording,
    recording_ignoring, run_named, starts,
};
use runtrace::event::{EventType, RunInfo};
use runtrace::handlers::Ignore;
use runtrace::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Free functions, sync and async

#[traced_run(kind = "tool")]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn sync_free_fn_without_run_param_takes_callbacks_and_records_start_and_end() {
    let (recorder, callbacks) = recording();

    assert_eq!(add(2, 3, &callbacks), 5);

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    let run = run_named(&recorder, "add");
    assert_eq!(run.kind, RunKind::Tool);
    assert_eq!(run.parent_run_id, None);
    assert_eq!(inputs_of(&recorder, "add"), json!({"a": 2, "b": 3}));
    assert_eq!(outputs_of(&recorder, "add"), json!(5));
}

#[traced_run(kind = "llm")]
async fn shout(text: String, run: &RunManager) -> Result<String, ToolError> {
    for word in text.split(' ') {
        run.on_llm_new_token(word)?;
    }
    Ok(text.to_uppercase())
}

#[tokio::test]
async fn async_free_fn_with_run_param_streams_tokens_on_its_own_run() -> Result<(), ToolError> {
    let (recorder, callbacks) = recording();

    assert_eq!(shout("hello there".into(), &callbacks).await?, "HELLO THERE");

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::NewToken, EventType::NewToken, EventType::End]);
    let run = run_named(&recorder, "shout");
    assert!(recorder.events().iter().all(|event| event.run.run_id == run.run_id));
    assert_eq!(inputs_of(&recorder, "shout"), json!({"text": "hello there"}));
    assert_eq!(outputs_of(&recorder, "shout"), json!("HELLO THERE"));
    Ok(())
}

#[traced_run]
async fn nothing_to_say() {}

#[tokio::test]
async fn async_fn_returning_unit_ends_with_null_output() {
    let (recorder, callbacks) = recording();

    nothing_to_say(&callbacks).await;

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    assert_eq!(inputs_of(&recorder, "nothing_to_say"), json!({}));
    assert_eq!(outputs_of(&recorder, "nothing_to_say"), Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Methods: &self, &mut self, self

#[derive(Debug, Default)]
struct Counter {
    count: u32,
}

impl Counter {
    #[traced_run]
    fn get(&self) -> u32 {
        self.count
    }

    #[traced_run]
    fn bump(&mut self, by: u32) -> u32 {
        self.count += by;
        self.count
    }

    #[traced_run]
    fn into_total(self, bonus: u32) -> u32 {
        self.count + bonus
    }

    #[traced_run]
    async fn get_later(&self, run: &RunManager) -> u32 {
        assert!(run.is_recording());
        tokio::task::yield_now().await;
        self.count
    }

    #[traced_run]
    async fn bump_later(&mut self, by: u32, run: &RunManager) -> u32 {
        tokio::task::yield_now().await;
        self.count += by;
        self.get(run)
    }

    #[traced_run]
    async fn into_total_later(self, bonus: u32) -> u32 {
        tokio::task::yield_now().await;
        self.count + bonus
    }
}

#[test]
fn sync_methods_on_ref_mut_ref_and_owned_self_are_named_type_colon_colon_method() {
    let (recorder, callbacks) = recording();

    let mut counter = Counter::default();
    assert_eq!(counter.bump(2, &callbacks), 2);
    assert_eq!(counter.get(&callbacks), 2);
    assert_eq!(counter.into_total(10, &callbacks), 12);

    assert_eq!(names(&recorder), ["Counter::bump", "Counter::get", "Counter::into_total"]);
    assert_eq!(inputs_of(&recorder, "Counter::bump"), json!({"by": 2}));
    assert_eq!(inputs_of(&recorder, "Counter::get"), json!({}));
    assert_eq!(inputs_of(&recorder, "Counter::into_total"), json!({"bonus": 10}));
    assert_eq!(outputs_of(&recorder, "Counter::into_total"), json!(12));
}

#[tokio::test]
async fn async_methods_on_ref_mut_ref_and_owned_self_run_and_nest() {
    let (recorder, callbacks) = recording();

    let mut counter = Counter::default();
    assert_eq!(counter.bump_later(3, &callbacks).await, 3);
    assert_eq!(counter.get_later(&callbacks).await, 3);
    assert_eq!(counter.into_total_later(1, &callbacks).await, 4);

    assert_eq!(
        names(&recorder),
        ["Counter::bump_later", "Counter::get", "Counter::get_later", "Counter::into_total_later"]
    );
    let bump = run_named(&recorder, "Counter::bump_later");
    assert_eq!(run_named(&recorder, "Counter::get").parent_run_id, Some(bump.run_id));
    assert_eq!(outputs_of(&recorder, "Counter::bump_later"), json!(3));
}

// ---------------------------------------------------------------------------------------------
// Generics, where clauses, lifetimes, impl Trait

#[traced_run(kind = "parser")]
fn first_of<T: Serialize + Clone + Sync>(items: Vec<T>) -> Option<T> {
    items.first().cloned()
}

#[traced_run]
fn describe<T, U>(value: T, label: U) -> String
where
    T: Serialize + std::fmt::Debug + Sync,
    U: AsRef<str> + Serialize + Sync,
{
    format!("{}={value:?}", label.as_ref())
}

#[traced_run]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if b.len() > a.len() { b } else { a }
}

#[derive(Serialize)]
struct Wrapper<T> {
    inner: T,
}

impl<T: Serialize + Clone + Sync> Wrapper<T> {
    #[traced_run]
    fn unwrap_clone(&self) -> T {
        self.inner.clone()
    }
}

#[test]
fn generic_fns_with_bounds_and_where_clauses_record_their_monomorphic_values() {
    let (recorder, callbacks) = recording();

    assert_eq!(first_of(vec!["x", "y"], &callbacks), Some("x"));
    assert_eq!(first_of::<u8>(vec![], &callbacks), None);
    assert_eq!(describe(7_u8, "seven", &callbacks), "seven=7");
    assert_eq!(longest("ab", "abc", &callbacks), "abc");

    assert_eq!(
        inputs(&recorder),
        [
            json!({"items": ["x", "y"]}),
            json!({"items": []}),
            json!({"value": 7, "label": "seven"}),
            json!({"a": "ab", "b": "abc"}),
        ]
    );
    assert_eq!(outputs(&recorder), [json!("x"), Value::Null, json!("seven=7"), json!("abc")]);
}

#[test]
fn method_of_a_generic_type_is_named_without_its_type_parameters() {
    let (recorder, callbacks) = recording();

    assert_eq!(Wrapper { inner: 5_u16 }.unwrap_clone(&callbacks), 5);
    assert_eq!(Wrapper { inner: "s" }.unwrap_clone(&callbacks), "s");

    assert_eq!(names(&recorder), ["Wrapper::unwrap_clone", "Wrapper::unwrap_clone"]);
}

#[traced_run(kind = "tool", skip(numbers))]
fn sum_all(numbers: impl IntoIterator<Item = u32>) -> u32 {
    numbers.into_iter().sum()
}

#[traced_run(kind = "tool")]
fn join_words(words: impl Serialize + AsRef<[&'static str]> + Sync, sep: &str) -> String {
    words.as_ref().join(sep)
}

#[traced_run]
fn squares(n: u32) -> impl Serialize + std::fmt::Debug {
    (1..=n).map(|i| i * i).collect::<Vec<_>>()
}

#[test]
fn impl_trait_arguments_are_accepted_and_recorded_unless_skipped() {
    let (recorder, callbacks) = recording();

    assert_eq!(sum_all([1, 2, 3], &callbacks), 6);
    assert_eq!(sum_all(vec![4], &callbacks), 4);
    assert_eq!(join_words(["a", "b"], "-", &callbacks), "a-b");

    assert_eq!(inputs_of(&recorder, "sum_all"), json!({}));
    assert_eq!(inputs_of(&recorder, "join_words"), json!({"words": ["a", "b"], "sep": "-"}));
    assert_eq!(outputs_of(&recorder, "join_words"), json!("a-b"));
}

#[test]
fn impl_trait_return_type_is_recorded_as_its_value() {
    let (recorder, callbacks) = recording();

    assert_eq!(format!("{:?}", squares(3, &callbacks)), "[1, 4, 9]");

    assert_eq!(outputs_of(&recorder, "squares"), json!([1, 4, 9]));
}

// ---------------------------------------------------------------------------------------------
// Early return and `?`

#[traced_run(kind = "parser")]
fn parse_positive(text: String) -> Result<u32, ToolError> {
    if text.is_empty() {
        return Err(ToolError::BadInput("empty".into()));
    }
    if text == "default" {
        return Ok(1);
    }
    let n: u32 = text.parse().map_err(|_| ToolError::BadInput(text.clone()))?;
    Ok(n * 10)
}

#[traced_run(kind = "parser")]
async fn parse_positive_later(text: String, run: &RunManager) -> Result<u32, ToolError> {
    tokio::task::yield_now().await;
    if text.is_empty() {
        return Err(ToolError::BadInput("empty".into()));
    }
    if text == "default" {
        return Ok(1);
    }
    // `?` on a traced call: Ok continues, Err leaves this run too.
    let n = parse_positive(text, run)?;
    Ok(n + 1)
}

#[traced_run]
fn clamp_to_zero(x: i32) -> i32 {
    if x < 0 {
        return 0;
    }
    x
}

#[test]
fn sync_early_return_and_question_mark_end_the_run_with_what_the_caller_gets() {
    let cases: [(&str, Result<u32, &str>); 4] =
        [("", Err("bad input: empty")), ("default", Ok(1)), ("nope", Err("bad input: nope")), ("4", Ok(40))];
    for (text, expected) in cases {
        let (recorder, callbacks) = recording();
        let got = parse_positive(text.into(), &callbacks).map_err(|error| error.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "input {text:?}");
        match expected {
            Ok(value) => {
                assert_eq!(recorder.event_types(), [EventType::Start, EventType::End], "input {text:?}");
                assert_eq!(outputs_of(&recorder, "parse_positive"), json!(value));
            }
            Err(message) => {
                assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error], "input {text:?}");
                assert_eq!(error_of(&recorder, "parse_positive").message, message);
            }
        }
    }
}

#[tokio::test]
async fn async_early_return_and_question_mark_end_the_run_with_what_the_caller_gets() {
    let (recorder, callbacks) = recording();
    assert!(matches!(parse_positive_later(String::new(), &callbacks).await, Err(ToolError::BadInput(_))));
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error]);

    let (recorder, callbacks) = recording();
    assert_eq!(parse_positive_later("default".into(), &callbacks).await.ok(), Some(1));
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
    assert_eq!(outputs_of(&recorder, "parse_positive_later"), json!(1));

    // `?` on Ok: the child ended, the parent goes on and ends with its own value.
    let (recorder, callbacks) = recording();
    assert_eq!(parse_positive_later("4".into(), &callbacks).await.ok(), Some(41));
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Start, EventType::End, EventType::End]);
    assert_eq!(outputs_of(&recorder, "parse_positive"), json!(40));
    assert_eq!(outputs_of(&recorder, "parse_positive_later"), json!(41));

    // `?` on Err: the child failed, and so does the parent, with the same message.
    let (recorder, callbacks) = recording();
    assert!(
        matches!(parse_positive_later("x".into(), &callbacks).await, Err(ToolError::BadInput(text)) if text == "x")
    );
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Start, EventType::Error, EventType::Error]);
    assert_eq!(error_of(&recorder, "parse_positive").message, "bad input: x");
    assert_eq!(error_of(&recorder, "parse_positive_later").message, "bad input: x");
}

#[test]
fn early_return_from_a_plain_fn_ends_the_run_with_the_returned_value() {
    let (recorder, callbacks) = recording();

    assert_eq!(clamp_to_zero(-5, &callbacks), 0);
    assert_eq!(clamp_to_zero(5, &callbacks), 5);

    assert_eq!(outputs(&recorder), [json!(0), json!(5)]);
    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End, EventType::Start, EventType::End]);
}

mod parser {
    use runtrace::prelude::*;

    /// The `Result` alias many crates declare; recognised as a `Result` by its name.
    pub type Result<T> = std::result::Result<T, super::ToolError>;

    #[traced_run(kind = "parser")]
    pub fn parse_alias(text: &str) -> Result<u8> {
        text.parse().map_err(|_| super::ToolError::BadInput(text.to_owned()))
    }
}

#[test]
fn result_type_alias_ends_with_ok_fails_with_err_and_carries_a_refused_start() {
    let (recorder, callbacks) = recording();

    assert_eq!(parser::parse_alias("7", &callbacks).ok(), Some(7));
    assert!(matches!(parser::parse_alias("x", &callbacks), Err(ToolError::BadInput(_))));
    let refuse_starts = Faulty::fails_at("refuse-starts", [EventType::Start], "no").raising();
    let refused = parser::parse_alias("7", CallbackManager::new().with_handler(refuse_starts));

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::End, EventType::Start, EventType::Error]);
    assert_eq!(outputs_of(&recorder, "parse_alias"), json!(7));
    assert!(matches!(refused, Err(ToolError::Callback(CallbackError::Raised { .. }))), "{refused:?}");
}

mod search {
    /// A search hit, named `Result` as search crates name theirs: not std's `Result`.
    #[derive(serde::Serialize)]
    pub struct Result {
        pub title: String,
    }
}

#[traced_run(kind = "retriever")]
fn best_hit(query: &str) -> search::Result {
    search::Result { title: query.to_uppercase() }
}

#[traced_run(kind = "parser")]
fn parse_by_path(text: &str) -> parser::Result<u8> {
    parser::parse_alias(text, CallbackManager::none())
}

#[test]
fn a_users_own_type_named_result_is_an_output_and_a_result_alias_by_path_fails_on_err() {
    let (recorder, callbacks) = recording();

    assert_eq!(best_hit("rust", &callbacks).title, "RUST");
    assert!(parse_by_path("x", &callbacks).is_err());
    assert_eq!(parse_by_path("7", &callbacks).ok(), Some(7));

    assert_eq!(outputs(&recorder), [json!({ "title": "RUST" }), json!(7)]);
    assert_eq!(
        recorder.event_types(),
        [EventType::Start, EventType::End, EventType::Start, EventType::Error, EventType::Start, EventType::End]
    );
}

#[traced_run]
fn normalize(mut text: String, _hint: u8) -> String {
    text.make_ascii_lowercase();
    text
}

#[test]
fn mut_and_underscore_parameters_are_recorded_by_name() {
    let (recorder, callbacks) = recording();

    assert_eq!(normalize("AbC".into(), 1, &callbacks), "abc");

    assert_eq!(inputs_of(&recorder, "normalize"), json!({"text": "AbC", "_hint": 1}));
    assert_eq!(outputs_of(&recorder, "normalize"), json!("abc"));
}

// ---------------------------------------------------------------------------------------------
// #[cfg] on parameters

#[traced_run]
fn configured(always: u32, #[cfg(test)] in_tests: u32, #[cfg(not(test))] in_release: u32) -> u32 {
    #[cfg(test)]
    let extra = in_tests;
    #[cfg(not(test))]
    let extra = in_release;
    always + extra
}

#[test]
fn cfg_on_parameters_records_only_the_parameters_compiled_in() {
    let (recorder, callbacks) = recording();

    assert_eq!(configured(1, 2, &callbacks), 3);

    assert_eq!(inputs_of(&recorder, "configured"), json!({"always": 1, "in_tests": 2}));
}

// ---------------------------------------------------------------------------------------------
// Trait methods through `dyn`

/// A tool an agent calls, traced by each implementation; `#[traced_run]` on the declaration
/// gives it the signature the implementations get.
trait Tool: Send + Sync {
    #[traced_run]
    fn call(&self, input: String, run: &RunManager) -> Result<String, ToolError>;

    /// A traced default method: each implementation's runs are named after it.
    #[traced_run(kind = "prompt")]
    fn describe(&self) -> String {
        format!("a tool answering {}", self.topic())
    }

    fn topic(&self) -> &'static str;
}

/// The same shape declared by hand: the parameter callers pass is a `&dyn AsParent`.
trait Retriever: Send + Sync {
    fn retrieve(&self, query: &str, parent: &dyn AsParent) -> Vec<String>;
}

struct Calculator;
struct WebSearch {
    engine: &'static str,
}

impl Tool for Calculator {
    #[traced_run(kind = "tool")]
    fn call(&self, input: String, run: &RunManager) -> Result<String, ToolError> {
        let sum: Result<f64, _> = input.split('+').map(|n| n.trim().parse::<f64>()).sum();
        let sum = sum.map_err(|_| ToolError::BadInput(input.clone()))?;
        run.on_text("added")?;
        Ok(sum.to_string())
    }

    fn topic(&self) -> &'static str {
        "sums"
    }
}

impl Tool for WebSearch {
    #[traced_run(kind = "tool")]
    fn call(&self, input: String, run: &RunManager) -> Result<String, ToolError> {
        let pages = self.retrieve(&input, run);
        Ok(pages.join("; "))
    }

    fn topic(&self) -> &'static str {
        "questions"
    }
}

impl Retriever for WebSearch {
    #[traced_run(kind = "retriever")]
    fn retrieve(&self, query: &str) -> Vec<String> {
        vec![format!("{}: {query}", self.engine)]
    }
}

#[traced_run(kind = "agent")]
fn agent(question: String, run: &RunManager) -> Result<Vec<String>, ToolError> {
    let tools: Vec<Box<dyn Tool>> = vec![Box::new(Calculator), Box::new(WebSearch { engine: "ddg" })];
    tools.iter().map(|tool| tool.call(question.clone(), run)).collect()
}

#[test]
fn trait_methods_called_through_boxed_dyn_are_named_per_type_and_parented_to_the_caller() -> Result<(), ToolError> {
    use EventType::{End, Start, Text};
    let (recorder, callbacks) = recording();

    assert_eq!(agent("1 + 2".into(), &callbacks)?, ["3", "ddg: 1 + 2"]);

    assert_eq!(names(&recorder), ["agent", "Calculator::call", "WebSearch::call", "WebSearch::retrieve"]);
    let agent_run = run_named(&recorder, "agent");
    let calculator = run_named(&recorder, "Calculator::call");
    let search = run_named(&recorder, "WebSearch::call");
    let retrieve = run_named(&recorder, "WebSearch::retrieve");
    assert_eq!(calculator.parent_run_id, Some(agent_run.run_id));
    assert_eq!(search.parent_run_id, Some(agent_run.run_id));
    assert_eq!(retrieve.parent_run_id, Some(search.run_id));
    assert_eq!((calculator.kind, retrieve.kind), (RunKind::Tool, RunKind::Retriever));
    assert_eq!(inputs_of(&recorder, "Calculator::call"), json!({"input": "1 + 2"}));
    assert_eq!(inputs_of(&recorder, "WebSearch::retrieve"), json!({"query": "1 + 2"}));
    assert_eq!(recorder.event_types(), [Start, Start, Text, End, Start, Start, End, End, End]);
    Ok(())
}

#[test]
fn trait_method_called_through_arc_dyn_starts_a_root_run_and_fails_with_its_error() {
    let (recorder, callbacks) = recording();
    let tool: Arc<dyn Tool> = Arc::new(Calculator);

    assert_eq!(tool.call("2 + 2".into(), &callbacks).ok().as_deref(), Some("4"));
    assert!(matches!(tool.call("two".into(), &callbacks), Err(ToolError::BadInput(_))));

    let runs = recorder.runs();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|run| run.name == "Calculator::call" && run.parent_run_id.is_none()));
    assert_eq!(error_of(&recorder, "Calculator::call").message, "bad input: two");
}

#[test]
fn traced_default_trait_method_is_named_after_each_implementing_type() {
    let (recorder, callbacks) = recording();
    let tools: Vec<Arc<dyn Tool>> =
        vec![Arc::new(Calculator), Arc::new(WebSearch { engine: "ddg" }), Arc::new(Calculator)];

    let described: Vec<String> = tools.iter().map(|tool| tool.describe(&callbacks)).collect();

    assert_eq!(described, ["a tool answering sums", "a tool answering questions", "a tool answering sums"]);
    assert_eq!(names(&recorder), ["Calculator::describe", "WebSearch::describe", "Calculator::describe"]);
    assert!(recorder.runs().iter().all(|run| run.kind == RunKind::Prompt));
}

#[test]
fn hand_declared_trait_method_with_callbacks_param_is_implemented_by_a_traced_fn() {
    let (recorder, callbacks) = recording();
    let retriever: Box<dyn Retriever> = Box::new(WebSearch { engine: "kagi" });

    assert_eq!(retriever.retrieve("rust", &callbacks), ["kagi: rust"]);
    assert_eq!(retriever.retrieve("rust", CallbackManager::none()), ["kagi: rust"]);

    assert_eq!(names(&recorder), ["WebSearch::retrieve"]);
    assert_eq!(outputs_of(&recorder, "WebSearch::retrieve"), json!(["kagi: rust"]));
}

// ---------------------------------------------------------------------------------------------
// Futures sent to other threads

#[traced_run(kind = "retriever")]
async fn fetch(doc: u32, run: &RunManager) -> Result<String, ToolError> {
    tokio::task::yield_now().await;
    run.on_text("fetched")?;
    Ok(format!("doc {doc}"))
}

#[traced_run]
async fn fetch_all(ids: Vec<u32>, run: &RunManager) -> Result<Vec<String>, ToolError> {
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let run = run.clone();
            tokio::spawn(async move { fetch(id, &run).await })
        })
        .collect();
    let mut docs = Vec::new();
    for task in tasks {
        docs.push(task.await.expect("the fetch task panicked")?);
    }
    Ok(docs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_traced_fn_is_send_and_spawned_children_keep_their_parent() -> Result<(), ToolError> {
    let (recorder, callbacks) = recording();

    let request = callbacks.clone();
    let docs = tokio::spawn(async move { fetch_all(vec![1, 2, 3], &request).await })
        .await
        .expect("the fetch_all task panicked")?;

    assert_eq!(docs, ["doc 1", "doc 2", "doc 3"]);
    let parent = run_named(&recorder, "fetch_all");
    let children: Vec<RunInfo> = recorder.runs().into_iter().filter(|run| run.name == "fetch").collect();
    assert_eq!(children.len(), 3);
    assert!(children.iter().all(|child| child.parent_run_id == Some(parent.run_id)));
    assert!(children.iter().all(|child| child.trace_id == parent.run_id));
    let mut docs: Vec<Value> = starts(&recorder)
        .into_iter()
        .filter_map(|(name, start)| (name == "fetch").then(|| start.inputs.get()["doc"].clone()))
        .collect();
    docs.sort_by_key(|doc| doc.as_u64());
    assert_eq!(docs, [json!(1), json!(2), json!(3)]);
    let types = recorder.event_types();
    assert_eq!(types.iter().filter(|t| **t == EventType::End).count(), 4);
    assert_eq!(types.last(), Some(&EventType::End));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// User parameters named like the expansion's own variables

#[traced_run]
#[allow(clippy::too_many_arguments)]
fn clashing_names(
    run_id: u32,
    result: &str,
    inputs: Vec<u8>,
    handler: bool,
    guard: char,
    outcome: i8,
    error: (),
    callbacks: &str,
) -> String {
    format!("{run_id} {result} {inputs:?} {handler} {guard} {outcome} {error:?} {callbacks}")
}

#[traced_run]
async fn clashing_names_later(run_id: u32, result: String, inputs: Vec<u8>, handler: bool, run: &RunManager) -> String {
    assert!(run.is_recording());
    tokio::task::yield_now().await;
    format!("{run_id} {result} {inputs:?} {handler}")
}

#[test]
fn parameters_named_like_generated_variables_are_recorded_under_their_own_names() {
    let (recorder, callbacks) = recording();

    let out = clashing_names(7, "ok", vec![1], true, 'g', -1, (), "mine", &callbacks);

    assert_eq!(out, "7 ok [1] true g -1 () mine");
    assert_eq!(
        inputs_of(&recorder, "clashing_names"),
        json!({
            "run_id": 7, "result": "ok", "inputs": [1], "handler": true,
            "guard": "g", "outcome": -1, "error": null, "callbacks": "mine"
        })
    );
    assert_eq!(outputs_of(&recorder, "clashing_names"), json!(out));
}

#[tokio::test]
async fn async_parameters_named_like_generated_variables_are_recorded_under_their_own_names() {
    let (recorder, callbacks) = recording();

    let out = clashing_names_later(7, "ok".into(), vec![2], false, &callbacks).await;

    assert_eq!(out, "7 ok [2] false");
    assert_eq!(
        inputs_of(&recorder, "clashing_names_later"),
        json!({"run_id": 7, "result": "ok", "inputs": [2], "handler": false})
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs: `{argument: value}`, serialized lazily

#[traced_run(kind = "tool")]
fn lookup(key: Counted, limit: u8) -> u8 {
    let _ = key;
    limit
}

#[traced_run(kind = "tool")]
async fn lookup_later(key: Counted, run: &RunManager) -> bool {
    tokio::task::yield_now().await;
    let _ = key;
    run.is_recording()
}

#[test]
fn inputs_are_an_object_of_argument_names_to_json_values() {
    let (recorder, callbacks) = recording();

    lookup(Counted::default(), 3, &callbacks);

    assert_eq!(inputs_of(&recorder, "lookup"), json!({"key": "counted", "limit": 3}));
}

#[tokio::test]
async fn inputs_are_never_serialized_without_handlers() {
    let key = Counted::default();

    assert_eq!(lookup(key.clone(), 1, CallbackManager::none()), 1);
    assert!(!lookup_later(key.clone(), CallbackManager::none()).await);
    assert_eq!(lookup(key.clone(), 1, CallbackManager::new()), 1);

    assert_eq!(key.serializations(), 0);
}

#[tokio::test]
async fn inputs_are_never_serialized_for_a_handler_that_ignores_the_runs_kind() {
    let key = Counted::default();
    let (chains_only, callbacks) = recording_ignoring(Ignore::TOOL);

    lookup(key.clone(), 1, &callbacks);
    lookup_later(key.clone(), &callbacks).await;

    assert!(chains_only.is_empty());
    assert_eq!(key.serializations(), 0);
}

#[test]
fn inputs_are_never_serialized_for_a_handler_that_does_not_read_them() {
    let key = Counted::default();
    // Counts starts, never reading their inputs.
    let counter = EventCounter::new(EventType::Start);

    lookup(key.clone(), 1, CallbackManager::new().with_handler(counter.clone()));

    assert_eq!(counter.count(), 1);
    assert_eq!(key.serializations(), 0);
}

#[test]
fn inputs_are_serialized_once_however_many_handlers_read_them() {
    let key = Counted::default();
    let (first, callbacks) = recording();
    let second = Arc::new(RecordingHandler::new());

    lookup(key.clone(), 1, callbacks.with_handler(second.clone()));

    assert_eq!(key.serializations(), 1);
    assert_eq!(inputs_of(&first, "lookup"), inputs_of(&second, "lookup"));
}

#[traced_run(kind = "tool")]
fn double(n: u32) -> u32 {
    n * 2
}

/// DESIGN §2: a traced function takes its parent as a `&CallbackManager`, a
/// `CallbackManager` by value, a parent's `run`, or `CallbackManager::none()`.
#[test]
fn a_free_function_takes_its_parent_by_reference_by_value_or_as_a_run() -> Result<(), CallbackError> {
    let (recorder, callbacks) = crate::common::recording();
    assert_eq!(double(1, &callbacks), 2);
    assert_eq!(double(2, callbacks.clone()), 4);
    assert_eq!(double(3, CallbackManager::none()), 6);
    let parent = callbacks.start_run(RunKind::Chain, "parent", &())?;
    assert_eq!(double(4, &*parent), 8);
    let parent_id = parent.run_id();
    parent.end(&())?;

    let runs = recorder.runs();
    let doubles: Vec<_> = runs.iter().filter(|run| run.name == "double").collect();
    assert_eq!(doubles.len(), 3, "by reference, by value and as a child; none() records nothing");
    assert_eq!(doubles.iter().map(|run| run.parent_run_id).collect::<Vec<_>>(), [None, None, parent_id]);
    Ok(())
}
