//! A call's events as a stream (`runtrace::events`): the call's own events in the order it
//! emitted them, then its output; filters as LangChain's `astream_events`; dropping the
//! stream cancels the call; a stream polled after its end, or over a call that panics, never
//! breaks the rule of one end or error per start.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use runtrace::event::ErrorCause;
use runtrace::events::{Item, StandardEvent, stream_events};
use runtrace::handlers::RecordingHandler;
use runtrace::prelude::*;
use runtrace::tracer::RunCollector;
use runtrace::{EventData, RunId};
use serde_json::{Value, json};

#[traced_run(kind = "tool")]
async fn calculator(expression: String) -> i64 {
    expression.split('+').filter_map(|term| term.trim().parse::<i64>().ok()).sum()
}

#[traced_run(kind = "chat_model", tags("model"))]
async fn chat(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    let answer = prompt.rsplit(' ').next().unwrap_or_default().to_owned();
    for token in ["The answer", " is ", &answer] {
        run.on_llm_new_token(token)?;
        tokio::task::yield_now().await;
    }
    Ok(format!("The answer is {answer}"))
}

#[traced_run(kind = "chain")]
async fn agent(question: String, run: &RunManager) -> Result<String, CallbackError> {
    let sum = calculator(question.clone(), run).await;
    run.on_custom_event("progress", &json!({"step": "calculated"}))?;
    chat(format!("{question} = {sum}"), run).await
}

/// The items of a whole stream: its events, and its output, checked to come last.
async fn read_all<T>(events: impl futures::Stream<Item = Item<T>>) -> (Vec<StandardEvent>, Option<T>) {
    let items: Vec<Item<T>> = events.collect().await;
    let mut seen = Vec::new();
    let mut output = None;
    for item in items {
        assert!(output.is_none(), "an item after the output");
        match item {
            Item::Event(event) => seen.push(event),
            Item::Output(out) => output = Some(out),
        }
    }
    (seen, output)
}

fn names(events: &[StandardEvent]) -> Vec<(&str, &str)> {
    events.iter().map(|event| (event.event.as_str(), &*event.name)).collect()
}

#[tokio::test]
async fn events_come_in_the_order_the_call_emitted_them_then_the_output() {
    let callbacks = CallbackManager::new().with_tags(["request"]).with_metadata([("user", "ada")]);
    let stream = stream_events(&callbacks, |callbacks| agent("2 + 2".into(), callbacks));
    let (events, output) = read_all(stream).await;

    assert_eq!(
        names(&events),
        [
            ("on_chain_start", "agent"),
            ("on_tool_start", "calculator"),
            ("on_tool_end", "calculator"),
            ("on_custom_event", "progress"),
            ("on_chat_model_start", "chat"),
            ("on_chat_model_stream", "chat"),
            ("on_chat_model_stream", "chat"),
            ("on_chat_model_stream", "chat"),
            ("on_chat_model_end", "chat"),
            ("on_chain_end", "agent"),
        ]
    );
    assert_eq!(output.expect("the output").expect("an answer"), "The answer is 4");

    let root = events[0].run_id;
    let tokens: Vec<&str> = events.iter().filter_map(StandardEvent::chunk).collect();
    assert_eq!(tokens, ["The answer", " is ", "4"]);
    assert_eq!(events[0].data, json!({"input": {"question": "2 + 2"}}));
    assert_eq!(events[2].data, json!({"output": 4}));
    assert_eq!(events[3].data, json!({"step": "calculated"}));
    assert_eq!(events[3].run_id, root, "a custom event belongs to the run that sent it");
    assert_eq!(events[9].data, json!({"output": "The answer is 4"}));
    for event in &events {
        let expected: &[RunId] = if event.run_id == root { &[] } else { &[root] };
        assert_eq!(event.parent_ids, expected, "{event:?}");
        assert_eq!(event.metadata.get("user"), Some(&json!("ada")), "inherited metadata on {event:?}");
        assert!(event.tags.contains(&"request".to_owned()), "inherited tags on {event:?}");
    }
    // Tags are the run's own from its start, repeated on each of its events.
    assert!(events[5..9].iter().all(|event| event.tags.contains(&"model".to_owned())));
    assert!(!events[0].tags.contains(&"model".to_owned()));
}

#[tokio::test]
async fn filters_include_any_match_then_exclude_as_langchain_does() {
    let only_model = stream_events(CallbackManager::none(), |callbacks| agent("1 + 2".into(), callbacks))
        .with_include_kinds([RunKind::ChatModel]);
    let (events, _) = read_all(only_model).await;
    assert!(events.iter().all(|event| event.name == "chat") && events.len() == 5, "{:?}", names(&events));

    // Includes add up: a kind or a name.
    let either = stream_events(CallbackManager::none(), |callbacks| agent("1 + 2".into(), callbacks))
        .with_include_kinds([RunKind::Tool])
        .with_include_names(["agent"]);
    let (events, _) = read_all(either).await;
    assert_eq!(
        names(&events),
        [
            ("on_chain_start", "agent"),
            ("on_tool_start", "calculator"),
            ("on_tool_end", "calculator"),
            ("on_chain_end", "agent")
        ]
    );

    // Excludes win over includes; tags match any of a run's tags.
    let tagged = stream_events(CallbackManager::none(), |callbacks| agent("1 + 2".into(), callbacks))
        .with_include_tags(["model"])
        .with_exclude_names(["chat"]);
    let (events, output) = read_all(tagged).await;
    assert_eq!(names(&events), []);
    assert_eq!(output.expect("the output held back by no filter").expect("an answer"), "The answer is 3");

    let no_tools = stream_events(CallbackManager::none(), |callbacks| agent("1 + 2".into(), callbacks))
        .with_exclude_kinds([RunKind::Tool, RunKind::ChatModel])
        .with_exclude_tags(["nothing-has-this"]);
    let (events, _) = read_all(no_tools).await;
    assert_eq!(
        names(&events),
        [("on_chain_start", "agent"), ("on_custom_event", "progress"), ("on_chain_end", "agent")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_sharing_callbacks_each_stream_only_their_own_events() {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let shared = CallbackManager::new().with_handler(&tracer);

    let calls: Vec<_> = (0..50_i64)
        .map(|call| {
            let stream = stream_events(&shared, move |callbacks| agent(format!("{call} + 1000"), callbacks));
            tokio::spawn(read_all(stream))
        })
        .collect();
    for (call, handle) in calls.into_iter().enumerate() {
        let (events, output) = handle.await.expect("a reader panicked");
        let sum = call as i64 + 1000;
        let tokens: Vec<&str> = events.iter().filter_map(StandardEvent::chunk).collect();
        assert_eq!(tokens, ["The answer", " is ", &sum.to_string()], "call {call}");
        assert_eq!(events.len(), 10, "call {call}: {:?}", names(&events));
        let root = events[0].run_id;
        assert!(events.iter().all(|event| event.run_id == root || event.parent_ids == [root]), "call {call}");
        assert_eq!(output.expect("the output").expect("an answer"), format!("The answer is {sum}"));
    }
    assert_eq!(collector.trees().len(), 50);
    assert_eq!(tracer.open_runs(), 0);
}

#[traced_run(kind = "llm")]
async fn endless_llm(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    run.on_llm_new_token(&prompt)?;
    std::future::pending::<()>().await;
    Ok(prompt)
}

#[traced_run(kind = "chain")]
async fn endless_chain(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    endless_llm(prompt, run).await
}

/// Every start the recorder heard has exactly one end or error; the errors' causes.
fn one_ending_per_start(recorder: &RecordingHandler) -> Vec<(String, Option<ErrorCause>)> {
    let events = recorder.events();
    recorder
        .runs()
        .iter()
        .map(|run| {
            let endings: Vec<Option<ErrorCause>> = events
                .iter()
                .filter(|event| event.run.run_id == run.run_id)
                .filter_map(|event| match &event.data {
                    EventData::End(_) => Some(None),
                    EventData::Error(error) => Some(Some(error.cause)),
                    _ => None,
                })
                .collect();
            assert_eq!(endings.len(), 1, "{} ended {} times", run.name, endings.len());
            (run.name.to_string(), endings[0])
        })
        .collect()
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_call() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let mut stream = stream_events(&callbacks, |callbacks| endless_chain("Hel".into(), callbacks));
    while let Some(item) = stream.next().await {
        if item.event().and_then(StandardEvent::chunk).is_some() {
            break;
        }
    }
    assert_eq!(recorder.runs().len(), 2, "both runs started");
    drop(stream);
    assert_eq!(
        one_ending_per_start(&recorder),
        [
            ("endless_chain".to_owned(), Some(ErrorCause::Cancelled)),
            ("endless_llm".to_owned(), Some(ErrorCause::Cancelled))
        ]
    );
}

#[tokio::test]
async fn a_stream_dropped_before_it_is_polled_starts_nothing() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    drop(stream_events(&callbacks, |callbacks| agent("1 + 1".into(), callbacks)));
    assert!(recorder.events().is_empty());
}

#[tokio::test]
async fn a_stream_polled_after_its_end_yields_nothing_more() {
    use futures::stream::FusedStream;

    let mut stream = stream_events(CallbackManager::none(), |callbacks| agent("1 + 1".into(), callbacks));
    let mut items = 0;
    while stream.next().await.is_some() {
        items += 1;
    }
    assert_eq!(items, 11, "ten events and the output");
    assert!(stream.is_terminated());
    for _ in 0..3 {
        assert!(stream.next().await.is_none());
    }
}

#[traced_run(kind = "llm")]
async fn broken_llm(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    run.on_llm_new_token(&prompt)?;
    tokio::task::yield_now().await;
    panic!("the model's client panicked");
}

#[traced_run(kind = "chain")]
async fn broken_chain(prompt: String, run: &RunManager) -> Result<String, CallbackError> {
    broken_llm(prompt, run).await
}

#[tokio::test]
async fn a_call_that_panics_streams_its_error_events_then_resumes_the_panic() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let mut stream = stream_events(&callbacks, |callbacks| broken_chain("Hel".into(), callbacks));

    let mut events = Vec::new();
    let panic = loop {
        match AssertUnwindSafe(stream.next()).catch_unwind().await {
            Ok(Some(Item::Event(event))) => events.push(event),
            Ok(Some(Item::Output(output))) => panic!("an output from a call that panicked: {output:?}"),
            Ok(None) => panic!("the stream ended without the call's panic"),
            Err(panic) => break panic,
        }
    };
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the model's client panicked"));
    assert_eq!(
        names(&events),
        [
            ("on_chain_start", "broken_chain"),
            ("on_llm_start", "broken_llm"),
            ("on_llm_stream", "broken_llm"),
            ("on_llm_error", "broken_llm"),
            ("on_chain_error", "broken_chain")
        ]
    );
    assert_eq!(events[3].data["cause"], Value::from("panicked"));
    assert!(stream.next().await.is_none(), "polled after the panic");
    let endings = one_ending_per_start(&recorder);
    assert!(endings.iter().all(|(_, cause)| *cause == Some(ErrorCause::Panicked)), "{endings:?}");
}

#[tokio::test]
async fn the_stream_reports_the_root_run_id_the_caller_chose() {
    let id = RunId::random();
    let callbacks = CallbackManager::new().with_run_id(id);
    let mut stream = stream_events(&callbacks, |callbacks| agent("1 + 1".into(), callbacks));
    assert_eq!(stream.root_run_id(), None, "nothing started yet");
    let Some(Item::Event(first)) = stream.next().await else { panic!("a first event") };
    assert_eq!((first.run_id, stream.root_run_id()), (id, Some(id)));
    let (rest, _) = read_all(stream).await;
    assert!(rest.iter().all(|event| event.run_id == id || event.parent_ids == [id]));
}
