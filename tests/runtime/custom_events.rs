//! Custom events: they belong to the run they are sent from, and sending one from outside any
//! run is a typed error, never a panic.

use crate::common::recording;
use runtrace::event::{CustomEvent, EventType};
use runtrace::handlers::{Ignore, RecordingHandler};
use runtrace::{CallbackError, CallbackManager, EventData, RunKind};
use serde_json::json;

fn custom_events(recorder: &RecordingHandler) -> Vec<(Option<runtrace::RunId>, CustomEvent)> {
    recorder
        .events()
        .into_iter()
        .filter_map(|event| match event.data {
            EventData::Custom(custom) => Some((Some(event.run.run_id), custom)),
            _ => None,
        })
        .collect()
}

#[test]
fn custom_event_inside_a_run_carries_that_runs_id_and_data() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();

    let index = callbacks.start_run(RunKind::Chain, "index", &"docs/")?;
    let embed = index.children().start_run(RunKind::Embedding, "embed", &"chunk 1")?;
    embed.on_custom_event("batch", &json!({"size": 16}))?;
    index.on_custom_event("progress", &json!({"done": 3, "of": 10}))?;

    let events = custom_events(&recorder);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, embed.run_id());
    assert_eq!((events[0].1.name.as_str(), &events[0].1.data), ("batch", &json!({"size": 16})));
    assert_eq!(events[1].0, index.run_id());
    assert_eq!((events[1].1.name.as_str(), &events[1].1.data), ("progress", &json!({"done": 3, "of": 10})));

    embed.end(&[0.1, 0.2])?;
    index.end(&"indexed")
}

#[test]
fn custom_event_dispatched_from_a_runs_child_manager_belongs_to_that_run() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let run = callbacks.start_run(RunKind::Retriever, "search", &"q")?;

    // A helper handed the run as a `&CallbackManager`, as a traced callee would be.
    let report = |callbacks: &CallbackManager| callbacks.dispatch_custom_event("hits", &3);
    report(run.children())?;
    run.get_child("step:2").dispatch_custom_event("hits", &4)?;

    let events = custom_events(&recorder);
    assert_eq!(events.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [run.run_id(), run.run_id()]);
    assert_eq!(events.iter().map(|(_, custom)| custom.data.clone()).collect::<Vec<_>>(), [json!(3), json!(4)]);
    run.end(&["doc-1"])
}

#[test]
fn custom_event_sent_outside_any_run_is_a_no_parent_run_error() {
    let (recorder, callbacks) = recording();

    let sent = callbacks.dispatch_custom_event("progress", &50);

    match sent {
        Err(CallbackError::NoParentRun { name }) => assert_eq!(name, "progress"),
        other => panic!("expected Err(NoParentRun), got {other:?}"),
    }
    assert!(recorder.is_empty(), "nothing was delivered");
}

#[test]
fn no_parent_run_error_tells_the_user_what_to_do() {
    let callbacks = CallbackManager::new().with_handler(RecordingHandler::new());
    let error = callbacks.dispatch_custom_event("progress", &50).expect_err("there is no run");
    let message = error.to_string();
    assert!(message.contains("progress") && message.contains("outside any run"), "{message}");
    assert!(error.handler_error().is_none());
}

#[test]
fn custom_event_outside_a_run_is_the_same_error_whether_or_not_anyone_listens() {
    let (_, listening) = recording();
    let deaf = CallbackManager::new().with_handler(crate::common::recording_ignoring(Ignore::CUSTOM_EVENTS).0);
    for outside in [&listening, &deaf, &CallbackManager::new(), CallbackManager::none()] {
        let error = outside.dispatch_custom_event("progress", &50).expect_err("outside any run");
        assert!(matches!(&error, CallbackError::NoParentRun { name } if name == "progress"), "{error:?}");
    }
}

#[test]
fn custom_event_inside_a_run_no_handler_hears_is_ok() -> Result<(), CallbackError> {
    let run = CallbackManager::none().start_run(RunKind::Chain, "index", &())?;
    run.on_custom_event("progress", &50)?;
    run.children().dispatch_custom_event("progress", &50)?;
    run.end(&())
}

#[test]
fn custom_event_between_other_events_keeps_its_place() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let run = callbacks.start_run(RunKind::Llm, "model", &"hi")?;
    run.on_llm_new_token("Hel")?;
    run.on_custom_event("usage", &json!({"tokens": 1}))?;
    run.on_llm_new_token("lo")?;
    run.end(&"Hello")?;

    assert_eq!(
        recorder.event_types(),
        [EventType::Start, EventType::NewToken, EventType::Custom, EventType::NewToken, EventType::End]
    );
    Ok(())
}

#[test]
fn custom_event_data_that_cannot_be_json_is_recorded_as_a_message_not_a_panic() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording();
    let run = callbacks.start_run(RunKind::Chain, "index", &())?;

    // JSON object keys must be strings.
    let unrecordable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    run.on_custom_event("odd", &unrecordable)?;

    let events = custom_events(&recorder);
    assert!(events[0].1.data.is_string(), "{:?}", events[0].1.data);
    run.end(&())
}

/// A retry reason that counts how often it is rendered.
struct CountedReason(std::sync::atomic::AtomicUsize);

impl std::fmt::Display for CountedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f.write_str("timeout")
    }
}

/// Custom event data and retry reasons are the user's code: they run only for a handler
/// that wants those events, as inputs, outputs and errors do.
#[test]
fn custom_data_and_retry_reasons_are_made_only_for_a_handler_that_wants_them() -> Result<(), CallbackError> {
    let (_, deaf) = crate::common::recording_ignoring(Ignore::CUSTOM_EVENTS | Ignore::RETRIES);
    let (recorder, listening) = crate::common::recording();
    let data = crate::common::Counted::default();
    let reason = CountedReason(std::sync::atomic::AtomicUsize::new(0));

    let run = deaf.start_run(RunKind::Chain, "index", &())?;
    run.on_custom_event("progress", &data)?;
    run.on_retry(1, &reason)?;
    run.get_child(None).dispatch_custom_event("progress", &data)?;
    run.end(&())?;
    assert_eq!((data.serializations(), reason.0.load(std::sync::atomic::Ordering::SeqCst)), (0, 0));

    let run = listening.start_run(RunKind::Chain, "index", &())?;
    run.on_custom_event("progress", &data)?;
    run.on_retry(1, &reason)?;
    run.end(&())?;
    assert_eq!((data.serializations(), reason.0.load(std::sync::atomic::Ordering::SeqCst)), (1, 1));
    assert_eq!(recorder.len(), 4);
    Ok(())
}
