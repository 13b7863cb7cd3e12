//! What the end event records as the output: the `Ok` value or the plain value as JSON, of
//! any shape; `null` with `skip_output`; `"[REDACTED]"` with `redact_output`. Serialized only
//! when a handler reads it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::{Counted, EventCounter, errors, outputs, recording, recording_ignoring};
use runtrace::event::EventType;
use runtrace::handlers::Ignore;
use runtrace::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("lookup failed: {0}")]
struct LookupError(String);

// ---------------------------------------------------------------------------------------------
// Shapes

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Answer {
    text: String,
    score: f32,
}

#[traced_run]
fn ok_struct() -> Result<Answer, LookupError> {
    Ok(Answer { text: "4".into(), score: 0.5 })
}

#[traced_run]
fn plain_struct() -> Answer {
    Answer { text: "4".into(), score: 0.5 }
}

#[traced_run]
fn a_number() -> f64 {
    4.5
}

#[traced_run]
async fn a_string() -> Result<&'static str, LookupError> {
    Ok("four")
}

#[traced_run]
fn a_list() -> Vec<u8> {
    vec![1, 2]
}

#[traced_run]
fn a_tuple() -> (u8, &'static str) {
    (1, "one")
}

#[traced_run]
fn a_bool() -> bool {
    true
}

#[traced_run]
fn nothing() {}

#[traced_run]
fn maybe(found: bool) -> Option<u8> {
    found.then_some(3)
}

#[traced_run]
fn a_map() -> BTreeMap<String, u8> {
    BTreeMap::from([("a".to_owned(), 1)])
}

#[traced_run]
fn unit_ok() -> Result<(), LookupError> {
    Ok(())
}

#[test]
fn ok_value_is_recorded_unwrapped_and_plain_value_as_it_is() {
    let (recorder, callbacks) = recording();

    let answer = ok_struct(&callbacks).unwrap();
    assert_eq!(plain_struct(&callbacks), answer);

    assert_eq!(outputs(&recorder), [json!({"text": "4", "score": 0.5}), json!({"text": "4", "score": 0.5})]);
}

#[tokio::test]
async fn outputs_that_are_not_objects_are_recorded_as_their_json() {
    let (recorder, callbacks) = recording();

    a_number(&callbacks);
    a_string(&callbacks).await.unwrap();
    a_list(&callbacks);
    a_tuple(&callbacks);
    a_bool(&callbacks);
    nothing(&callbacks);
    maybe(true, &callbacks);
    maybe(false, &callbacks);
    a_map(&callbacks);
    unit_ok(&callbacks).unwrap();

    assert_eq!(
        outputs(&recorder),
        [
            json!(4.5),
            json!("four"),
            json!([1, 2]),
            json!([1, "one"]),
            json!(true),
            Value::Null,
            json!(3),
            Value::Null,
            json!({"a": 1}),
            Value::Null,
        ]
    );
}

#[traced_run]
fn unrecordable() -> BTreeMap<(u8, u8), u8> {
    BTreeMap::from([((1, 2), 3)])
}

#[test]
fn output_that_cannot_be_json_is_recorded_as_a_message_not_a_panic() {
    let (recorder, callbacks) = recording();

    assert_eq!(unrecordable(&callbacks).len(), 1);

    let [Value::String(message)] = &outputs(&recorder)[..] else { panic!("expected one string output") };
    assert!(message.starts_with("<unrecordable"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// skip_output and redact_output

#[traced_run(skip_output)]
fn skipped(found: bool) -> Result<Answer, LookupError> {
    if found { Ok(Answer { text: "secret".into(), score: 1.0 }) } else { Err(LookupError("nothing".into())) }
}

#[traced_run(redact_output)]
fn redacted(found: bool) -> Result<Answer, LookupError> {
    if found { Ok(Answer { text: "secret".into(), score: 1.0 }) } else { Err(LookupError("nothing".into())) }
}

#[traced_run(kind = "llm", redact_output)]
async fn redacted_plain() -> String {
    "secret".into()
}

#[traced_run(kind = "llm", skip_output)]
async fn skipped_plain() -> String {
    "secret".into()
}

#[tokio::test]
async fn skip_output_records_null_and_the_caller_still_gets_the_value() {
    let (recorder, callbacks) = recording();

    assert_eq!(skipped(true, &callbacks).unwrap().text, "secret");
    assert_eq!(skipped_plain(&callbacks).await, "secret");

    assert_eq!(outputs(&recorder), [Value::Null, Value::Null]);
}

#[tokio::test]
async fn redact_output_records_redacted_and_the_caller_still_gets_the_value() {
    let (recorder, callbacks) = recording();

    assert_eq!(redacted(true, &callbacks).unwrap().text, "secret");
    assert_eq!(redacted_plain(&callbacks).await, "secret");

    assert_eq!(outputs(&recorder), [json!("[REDACTED]"), json!("[REDACTED]")]);
}

#[test]
fn output_options_leave_the_error_of_an_err_recorded() {
    let (recorder, callbacks) = recording();

    assert!(skipped(false, &callbacks).is_err());
    assert!(redacted(false, &callbacks).is_err());

    assert_eq!(recorder.event_types(), [EventType::Start, EventType::Error, EventType::Start, EventType::Error]);
    let messages: Vec<String> = errors(&recorder).into_iter().map(|(_, error)| error.message).collect();
    assert_eq!(messages, ["lookup failed: nothing", "lookup failed: nothing"]);
}

// ---------------------------------------------------------------------------------------------
// Laziness

#[traced_run(kind = "tool", skip(out))]
fn give(out: Counted) -> Counted {
    out
}

#[traced_run(kind = "tool", skip(out))]
async fn give_ok(out: Counted) -> Result<Counted, LookupError> {
    Ok(out)
}

#[traced_run(kind = "tool", skip(out), skip_output)]
fn give_skipped(out: Counted) -> Counted {
    out
}

#[traced_run(kind = "tool", skip(out), redact_output)]
fn give_redacted(out: Counted) -> Counted {
    out
}

#[tokio::test]
async fn output_is_never_serialized_without_handlers_or_for_handlers_that_ignore_the_kind() {
    let out = Counted::default();
    let (chains_only, ignoring) = recording_ignoring(Ignore::TOOL);

    give(out.clone(), CallbackManager::none());
    give_ok(out.clone(), CallbackManager::none()).await.unwrap();
    give(out.clone(), &ignoring);
    give_ok(out.clone(), &ignoring).await.unwrap();

    assert!(chains_only.is_empty());
    assert_eq!(out.serializations(), 0);
}

#[test]
fn output_is_never_serialized_for_a_handler_that_does_not_read_it() {
    let out = Counted::default();
    // Counts ends without reading their outputs.
    let ends = EventCounter::new(EventType::End);

    give(out.clone(), CallbackManager::new().with_handler(ends.clone()));

    assert_eq!(ends.count(), 1);
    assert_eq!(out.serializations(), 0);
}

#[test]
fn output_is_serialized_once_however_many_handlers_read_it() {
    let out = Counted::default();
    let (first, callbacks) = recording();
    let second = Arc::new(RecordingHandler::new());

    give(out.clone(), callbacks.with_handler(second.clone()));

    assert_eq!(out.serializations(), 1);
    assert_eq!(outputs(&first), outputs(&second));
}

#[test]
fn skipped_or_redacted_output_is_never_serialized() {
    let out = Counted::default();
    let (recorder, callbacks) = recording();

    give_skipped(out.clone(), &callbacks);
    give_redacted(out.clone(), &callbacks);

    assert_eq!(outputs(&recorder), [Value::Null, json!("[REDACTED]")]);
    assert_eq!(out.serializations(), 0);
}
