//! Every handler gets every event, in the order the events were emitted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::assert_each_worker_in_order;
use crate::common::recording;
use runtrace::event::{AgentAction, AgentFinish};
use runtrace::handlers::{BoxFuture, HandlerResult, RecordingHandler};
use runtrace::{AsyncCallbackHandler, CallbackError, CallbackHandler, CallbackManager, Event, EventData, RunKind};

/// One line per event: the run, what happened and its payload, enough to tell any two of the
/// events below apart.
fn describe(event: &Event<'_>) -> String {
    let run = &event.run.name;
    match &event.data {
        EventData::Start(start) => format!("{run} start {}", start.inputs.get()),
        EventData::End(end) => format!("{run} end {}", end.outputs.get()),
        EventData::Error(error) => format!("{run} error {}", error.message),
        EventData::NewToken(token) => format!("{run} token {token}"),
        EventData::Text(text) => format!("{run} text {text}"),
        EventData::Retry(retry) => format!("{run} retry {} {}", retry.attempt, retry.reason),
        EventData::AgentAction(action) => format!("{run} action {}", action.tool),
        EventData::AgentFinish(finish) => format!("{run} finish {}", finish.output),
        EventData::Custom(custom) => format!("{run} custom {} {}", custom.name, custom.data),
        other => format!("{run} {other:?}"),
    }
}

fn described(recorder: &RecordingHandler) -> Vec<String> {
    recorder.events().iter().map(describe).collect()
}

/// An agent loop: several runs, nested and side by side, two of them open at once, every
/// kind of event. Returns the events in the order they were emitted.
fn agent_loop(callbacks: &CallbackManager) -> Result<Vec<String>, CallbackError> {
    let mut expected = Vec::new();
    let agent = callbacks.start_run(RunKind::Agent, "agent", &"what is 2+2, twice?")?;
    expected.push(r#"agent start "what is 2+2, twice?""#.to_owned());

    for step in 0..5 {
        let model = agent.children().start_run(RunKind::ChatModel, format!("model-{step}"), &step)?;
        expected.push(format!("model-{step} start {step}"));
        for token in 0..40 {
            model.on_llm_new_token(&format!("tok{token}"))?;
            expected.push(format!("model-{step} token tok{token}"));
        }
        if step == 2 {
            model.on_retry(1, "rate limited")?;
            expected.push(format!("model-{step} retry 1 rate limited"));
        }
        model.end(&"call the calculator")?;
        expected.push(format!(r#"model-{step} end "call the calculator""#));

        agent.on_agent_action(AgentAction::new(format!("calculator-{step}"), serde_json::json!("2+2")))?;
        expected.push(format!("agent action calculator-{step}"));

        // Two tools in flight at once, their events interleaved.
        let left = agent.children().start_run(RunKind::Tool, format!("left-{step}"), &"2+2")?;
        let right = agent.children().start_run(RunKind::Tool, format!("right-{step}"), &"2+2")?;
        expected.push(format!(r#"left-{step} start "2+2""#));
        expected.push(format!(r#"right-{step} start "2+2""#));
        for i in 0..10 {
            left.on_text(&format!("l{i}"))?;
            right.on_custom_event("progress", &i)?;
            expected.push(format!("left-{step} text l{i}"));
            expected.push(format!("right-{step} custom progress {i}"));
        }
        right.error(&"division by zero")?;
        expected.push(format!("right-{step} error division by zero"));
        left.end(&4)?;
        expected.push(format!("left-{step} end 4"));
    }

    agent.on_agent_finish(AgentFinish::new(serde_json::json!({"answer": 4})))?;
    expected.push(r#"agent finish {"answer":4}"#.to_owned());
    agent.end(&4)?;
    expected.push("agent end 4".to_owned());
    Ok(expected)
}

#[test]
fn two_handlers_each_get_every_event_in_emission_order() -> Result<(), CallbackError> {
    let (first, callbacks) = recording();
    let second = Arc::new(RecordingHandler::new());
    let callbacks = callbacks.with_handler(second.clone());

    let expected = agent_loop(&callbacks)?;

    assert!(expected.len() > 300, "the scenario emits many events");
    assert_eq!(described(&first), expected);
    assert_eq!(described(&second), expected);
    Ok(())
}

#[test]
fn inheritable_and_local_handler_each_get_their_events_in_emission_order() -> Result<(), CallbackError> {
    let request = Arc::new(RecordingHandler::new());
    let constructor = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_local_handler(constructor.clone()).with_handler(request.clone());

    let expected = agent_loop(&callbacks)?;

    assert_eq!(described(&request), expected);
    let own: Vec<String> = expected.into_iter().filter(|line| line.starts_with("agent ")).collect();
    assert_eq!(described(&constructor), own);
    Ok(())
}

/// An async handler that writes down what it hears.
struct Collector(Arc<Mutex<Vec<String>>>);

impl AsyncCallbackHandler for Collector {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            Ok(())
        })
    }
}

#[test]
fn a_sync_and_a_background_handler_each_get_every_event_in_emission_order() -> Result<(), CallbackError> {
    let inline = Arc::new(RecordingHandler::new());
    let collected = Arc::new(Mutex::new(Vec::new()));
    let callbacks = CallbackManager::new().with_handler(Collector(collected.clone())).with_handler(inline.clone());

    let expected = agent_loop(&callbacks)?;
    callbacks.flush_blocking();

    assert_eq!(described(&inline), expected);
    assert_eq!(*collected.lock().unwrap_or_else(PoisonError::into_inner), expected);
    Ok(())
}

/// A handler that writes down the time of each event, after a pause of `delay`.
struct Clock {
    delay: Duration,
    times: Mutex<Vec<SystemTime>>,
}

impl Clock {
    fn new(delay: Duration) -> Arc<Clock> {
        Arc::new(Clock { delay, times: Mutex::new(Vec::new()) })
    }

    fn times(&self) -> Vec<SystemTime> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl CallbackHandler for Clock {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        std::thread::sleep(self.delay);
        self.times.lock().unwrap_or_else(PoisonError::into_inner).push(event.time());
        Ok(())
    }
}

/// An async handler that writes down the time of each event.
struct AsyncClock(Arc<Mutex<Vec<SystemTime>>>);

impl AsyncCallbackHandler for AsyncClock {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(event.time());
            Ok(())
        })
    }
}

#[test]
fn every_handler_gets_the_same_time_for_an_event_however_late_it_asks() -> Result<(), CallbackError> {
    let first = Clock::new(Duration::ZERO);
    let late = Clock::new(Duration::from_millis(3));
    let recorder = Arc::new(RecordingHandler::new());
    let background = Arc::new(Mutex::new(Vec::new()));
    let callbacks = CallbackManager::new()
        .with_handler(first.clone())
        .with_handler(late.clone())
        .with_handler(recorder.clone())
        .with_handler(AsyncClock(background.clone()));

    let before = SystemTime::now();
    agent_loop(&callbacks)?;
    callbacks.flush_blocking();

    let times = first.times();
    assert_eq!(times.len(), recorder.events().len());
    assert!(before <= times[0], "an event's time is read while it is dispatched");
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "each event is timed when it happens: {times:?}");
    assert_eq!(late.times(), times, "a handler that asks after a slow one still gets the event's time");
    assert_eq!(recorder.events().iter().map(Event::time).collect::<Vec<_>>(), times);
    assert_eq!(*background.lock().unwrap_or_else(PoisonError::into_inner), times);
    Ok(())
}

#[test]
fn runs_on_several_threads_keep_their_own_order_in_each_handler() -> Result<(), CallbackError> {
    let (first, callbacks) = recording();
    let second = Arc::new(RecordingHandler::new());
    let callbacks = callbacks.with_handler(second.clone());

    let expected: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let callbacks = &callbacks;
                scope.spawn(move || -> Result<Vec<String>, CallbackError> {
                    let name = format!("worker-{worker}");
                    let run = callbacks.start_run(RunKind::Llm, name.clone(), &worker)?;
                    let mut expected = vec![format!("{name} start {worker}")];
                    for token in 0..300 {
                        run.on_llm_new_token(&token.to_string())?;
                        expected.push(format!("{name} token {token}"));
                    }
                    run.end(&worker)?;
                    expected.push(format!("{name} end {worker}"));
                    Ok(expected)
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("the worker thread does not panic")).collect::<Vec<_>>()
    })
    .into_iter()
    .collect::<Result<_, _>>()?;

    for recorder in [&first, &second] {
        assert_each_worker_in_order(&described(recorder), &expected);
    }
    Ok(())
}
