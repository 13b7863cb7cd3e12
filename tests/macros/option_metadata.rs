//! `metadata(key = expr, ..)`: local metadata of the run, merged over the request's inherited
//! metadata, evaluated per call and only when a handler hears the run.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{metadata_by_run, metadata_of, recording, recording_ignoring};
use runtrace::handlers::Ignore;
use runtrace::prelude::*;
use serde_json::{Value, json};

#[derive(serde::Serialize)]
struct Limits {
    max_tokens: u32,
}

#[traced_run(
    kind = "llm",
    metadata(model = "gpt-4o", temperature = 0.25, stream = true, limits = Limits { max_tokens: 256 }, stop = ["\n"])
)]
fn fake_llm(prompt: String) -> String {
    prompt
}

#[test]
fn literal_and_struct_values_are_recorded_as_json() {
    let (recorder, callbacks) = recording();

    fake_llm("hi".into(), &callbacks);

    assert_eq!(
        metadata_of(&recorder, "fake_llm"),
        json!({"model": "gpt-4o", "temperature": 0.25, "stream": true, "limits": {"max_tokens": 256}, "stop": ["\n"]})
    );
}

#[traced_run(metadata(prompt_chars = prompt.chars().count()))]
async fn from_arguments(prompt: String) -> String {
    prompt
}

struct ChatModel {
    model: String,
}

impl ChatModel {
    #[traced_run(kind = "chat_model", metadata(model = self.model, r#type = "chat"))]
    fn chat(&self, message: String) -> String {
        format!("{}: {message}", self.model)
    }
}

#[tokio::test]
async fn values_may_use_arguments_and_self_and_raw_keys() {
    let (recorder, callbacks) = recording();

    from_arguments("héllo".into(), &callbacks).await;
    ChatModel { model: "llama".into() }.chat("hi".into(), &callbacks);

    assert_eq!(metadata_of(&recorder, "from_arguments"), json!({"prompt_chars": 5}));
    assert_eq!(metadata_of(&recorder, "ChatModel::chat"), json!({"model": "llama", "type": "chat"}));
}

#[traced_run(metadata(user = "bob", step = 1))]
fn overriding(run: &RunManager) -> Value {
    child(run);
    Value::Object(run.metadata().to_map())
}

#[traced_run]
fn child(run: &RunManager) -> Value {
    Value::Object(run.metadata().to_map())
}

#[test]
fn attribute_metadata_overrides_the_requests_on_its_run_only() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_metadata([("user", "ada"), ("app", "demo")]);

    let inside = overriding(&callbacks);

    assert_eq!(inside, json!({"user": "bob", "app": "demo", "step": 1}));
    assert_eq!(
        metadata_by_run(&recorder),
        [
            ("overriding".to_owned(), json!({"user": "bob", "app": "demo", "step": 1})),
            ("child".to_owned(), json!({"user": "ada", "app": "demo"})),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Evaluation: per call, lazily

static EVALUATIONS: AtomicUsize = AtomicUsize::new(0);
static IGNORED_EVALUATIONS: AtomicUsize = AtomicUsize::new(0);

fn next_call() -> usize {
    EVALUATIONS.fetch_add(1, Ordering::SeqCst) + 1
}

#[traced_run(kind = "tool", metadata(call = next_call()))]
fn counted() -> u8 {
    7
}

#[traced_run(kind = "tool", metadata(call = IGNORED_EVALUATIONS.fetch_add(1, Ordering::SeqCst)))]
fn counted_for_an_ignoring_handler() -> u8 {
    7
}

#[test]
fn values_are_evaluated_once_per_heard_call_and_never_without_handlers() {
    let (recorder, callbacks) = recording();

    assert_eq!(counted(CallbackManager::none()), 7);
    assert_eq!(counted(CallbackManager::new()), 7);
    assert_eq!(EVALUATIONS.load(Ordering::SeqCst), 0);

    counted(&callbacks);
    counted(&callbacks);
    assert_eq!(EVALUATIONS.load(Ordering::SeqCst), 2);
    let calls: Vec<Value> =
        metadata_by_run(&recorder).into_iter().map(|(_, metadata)| metadata["call"].clone()).collect();
    assert_eq!(calls, [json!(1), json!(2)]);
}

#[test]
fn values_are_not_evaluated_for_a_handler_that_ignores_the_runs_kind() {
    let (chains_only, callbacks) = recording_ignoring(Ignore::TOOL);

    assert_eq!(counted_for_an_ignoring_handler(&callbacks), 7);

    assert!(chains_only.is_empty());
    assert_eq!(IGNORED_EVALUATIONS.load(Ordering::SeqCst), 0);
}
