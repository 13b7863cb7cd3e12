//! Per-handler opt-outs: a handler that ignores a family of events gets none of them, and the
//! other handlers of the same runs still get everything.
//!
//! Run events (start, end, error, token, text) belong to the family of their run's kind;
//! agent actions and finishes to AGENT, retries to RETRY, custom events to CUSTOM_EVENT.

use std::sync::{Arc, Mutex, PoisonError};

use crate::common::{Counted, recording_ignoring};
use runtrace::event::{AgentAction, AgentFinish, EventType, Payload};
use runtrace::handlers::{BoxFuture, HandlerResult, Ignore, RecordingHandler};
use runtrace::{AsyncCallbackHandler, CallbackError, CallbackManager, Event, RunKind};

/// Emits every kind of event from one run of `kind` named `name`; it ends with an error when
/// `fail` says so.
fn every_event(parent: &CallbackManager, kind: RunKind, name: &str, fail: bool) -> Result<usize, CallbackError> {
    let run = parent.start_run(kind, name.to_owned(), &"input")?;
    run.on_llm_new_token("token")?;
    run.on_text("text")?;
    run.on_retry(1, "timeout")?;
    run.on_agent_action(AgentAction::new("calculator", serde_json::json!("2+2")))?;
    run.on_agent_finish(AgentFinish::new(serde_json::json!(4)))?;
    run.on_custom_event("progress", &50)?;
    run.children().dispatch_custom_event("child-progress", &60)?;
    if fail {
        run.error(&"it broke")?;
    } else {
        run.end(&"output")?;
    }
    Ok(9)
}

/// A chain with, as children, one ending and one failing run of every kind (another chain
/// among them), each emitting every kind of event. Returns how many events it emitted.
fn pipeline(callbacks: &CallbackManager) -> Result<usize, CallbackError> {
    let root = callbacks.start_run(RunKind::Chain, "pipeline", &"question")?;
    let mut emitted = 2;
    for kind in RunKind::ALL {
        emitted += every_event(root.children(), kind, &format!("{kind}-ok"), false)?;
        emitted += every_event(root.children(), kind, &format!("{kind}-failing"), true)?;
    }
    root.end(&"answer")?;
    Ok(emitted)
}

fn describe(event: &Event<'_>) -> String {
    format!("{} {} {}", event.run.name, event.run.run_id, event.event_type())
}

fn is_run_event_of(kind: RunKind, event: &Event<'_>) -> bool {
    event.run.kind == kind
        && matches!(
            event.event_type(),
            EventType::Start | EventType::End | EventType::Error | EventType::NewToken | EventType::Text
        )
}

/// Runs the pipeline with a handler that ignores `ignore` beside one that hears everything,
/// and checks the first got exactly the events `silenced` does not pick.
fn check_ignore(ignore: Ignore, silenced: impl Fn(&Event<'_>) -> bool) -> Result<(), CallbackError> {
    let (ignoring, callbacks) = recording_ignoring(ignore);
    let everything = Arc::new(RecordingHandler::new());
    let callbacks = callbacks.with_handler(everything.clone());

    let emitted = pipeline(&callbacks)?;

    let all = everything.events();
    assert_eq!(all.len(), emitted, "the other handler gets every event");
    let expected: Vec<String> = all.iter().filter(|event| !silenced(event)).map(describe).collect();
    assert!(expected.len() < all.len(), "{ignore:?} silences some events of the pipeline");
    assert!(!expected.is_empty(), "{ignore:?} leaves some events of the pipeline");
    let got: Vec<String> = ignoring.events().iter().map(describe).collect();
    assert_eq!(got, expected, "the handler ignoring {ignore:?} gets every other event");
    Ok(())
}

macro_rules! ignore_tests {
    ($($test:ident: $ignore:expr => |$event:ident| $silenced:expr;)*) => {$(
        #[test]
        fn $test() -> Result<(), CallbackError> {
            check_ignore($ignore, |$event: &Event<'_>| $silenced)
        }
    )*};
}

ignore_tests! {
    ignore_llm_silences_llm_runs: Ignore::LLM => |event| is_run_event_of(RunKind::Llm, event);
    ignore_chat_model_silences_chat_model_runs: Ignore::CHAT_MODEL => |event| is_run_event_of(RunKind::ChatModel, event);
    ignore_chain_silences_chain_runs_but_not_their_children: Ignore::CHAIN => |event| is_run_event_of(RunKind::Chain, event);
    ignore_tool_silences_tool_runs: Ignore::TOOL => |event| is_run_event_of(RunKind::Tool, event);
    ignore_retriever_silences_retriever_runs: Ignore::RETRIEVER => |event| is_run_event_of(RunKind::Retriever, event);
    ignore_embedding_silences_embedding_runs: Ignore::EMBEDDING => |event| is_run_event_of(RunKind::Embedding, event);
    ignore_parser_silences_parser_runs: Ignore::PARSER => |event| is_run_event_of(RunKind::Parser, event);
    ignore_prompt_silences_prompt_runs: Ignore::PROMPT => |event| is_run_event_of(RunKind::Prompt, event);
    ignore_custom_silences_runs_of_kind_custom: Ignore::CUSTOM_RUNS => |event| is_run_event_of(RunKind::Custom, event);
    ignore_agent_silences_agent_runs_and_every_agent_action_and_finish: Ignore::AGENT => |event| {
        is_run_event_of(RunKind::Agent, event)
            || matches!(event.event_type(), EventType::AgentAction | EventType::AgentFinish)
    };
    ignore_retry_silences_retries_of_every_run: Ignore::RETRIES => |event| event.event_type() == EventType::Retry;
    ignore_custom_event_silences_custom_events_of_every_run: Ignore::CUSTOM_EVENTS => |event| {
        event.event_type() == EventType::Custom
    };
    ignore_several_flags_silences_each_of_them: Ignore::LLM | Ignore::TOOL | Ignore::RETRIES => |event| {
        is_run_event_of(RunKind::Llm, event)
            || is_run_event_of(RunKind::Tool, event)
            || event.event_type() == EventType::Retry
    };
}

#[test]
fn ignore_none_hears_everything() -> Result<(), CallbackError> {
    let (recorder, callbacks) = recording_ignoring(Ignore::NONE);
    let emitted = pipeline(&callbacks)?;
    assert_eq!(recorder.len(), emitted);
    Ok(())
}

#[test]
fn every_kind_has_its_own_flag() {
    for kind in RunKind::ALL {
        for other in RunKind::ALL {
            assert_eq!(Ignore::kind(kind).contains(Ignore::kind(other)), kind == other, "{kind} vs {other}");
        }
        assert!(!Ignore::kind(kind).contains(Ignore::RETRIES), "{kind}");
        assert!(!Ignore::kind(kind).contains(Ignore::CUSTOM_EVENTS), "{kind}");
        assert!(!Ignore::kind(kind).contains(Ignore::PAYLOADS), "{kind}");
        assert!(!Ignore::PAYLOADS.contains(Ignore::kind(kind)), "{kind}");
    }
}

#[test]
fn run_no_handler_listens_to_still_parents_its_children() -> Result<(), CallbackError> {
    let (tools_only, callbacks) = recording_ignoring(Ignore::CHAIN | Ignore::LLM);

    let chain = callbacks.start_run(RunKind::Chain, "answer", &())?;
    let model = chain.children().start_run(RunKind::Llm, "model", &())?;
    let tool = model.children().start_run(RunKind::Tool, "calculator", &"2+2")?;
    tool.end(&4)?;
    let (chain_id, model_id) = (chain.run_id(), model.run_id());
    model.end(&())?;
    chain.end(&())?;

    let runs = tools_only.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].parent_run_id, model_id);
    assert_eq!(Some(runs[0].trace_id), chain_id);
    Ok(())
}

/// An async handler that ignores LLM runs and writes down the events it hears.
struct ChainExporter(Arc<Mutex<Vec<String>>>);

impl AsyncCallbackHandler for ChainExporter {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(describe(event));
            Ok(())
        })
    }

    fn ignore(&self) -> Ignore {
        Ignore::LLM
    }
}

#[test]
fn background_handler_ignoring_llm_gets_no_llm_run_events() -> Result<(), CallbackError> {
    let exported = Arc::new(Mutex::new(Vec::new()));
    let everything = Arc::new(RecordingHandler::new());
    let callbacks =
        CallbackManager::new().with_handler(ChainExporter(exported.clone())).with_handler(everything.clone());

    pipeline(&callbacks)?;
    callbacks.flush_blocking();

    let expected: Vec<String> =
        everything.events().iter().filter(|event| !is_run_event_of(RunKind::Llm, event)).map(describe).collect();
    assert_eq!(*exported.lock().unwrap_or_else(PoisonError::into_inner), expected);
    Ok(())
}

/// What a [`PayloadReader`] got of one run's start or end: the event, whether its payload
/// was omitted, and its value.
type Heard = (String, bool, serde_json::Value);

/// An async handler that writes down the payload of each start and end it hears, with the
/// flags it is given: [`Ignore::PAYLOADS`] says it does not read them (this one still looks,
/// to show what such a handler is handed).
struct PayloadReader {
    ignore: Ignore,
    heard: Arc<Mutex<Vec<Heard>>>,
}

impl PayloadReader {
    fn new(ignore: Ignore) -> (Self, Arc<Mutex<Vec<Heard>>>) {
        let heard = Arc::new(Mutex::new(Vec::new()));
        (PayloadReader { ignore, heard: heard.clone() }, heard)
    }
}

impl AsyncCallbackHandler for PayloadReader {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            let payload: &Payload<'_> = match &event.data {
                runtrace::EventData::Start(start) => &start.inputs,
                runtrace::EventData::End(end) => &end.outputs,
                _ => return Ok(()),
            };
            let heard =
                (format!("{} {}", event.run.name, event.event_type()), payload.is_omitted(), payload.get().clone());
            self.heard.lock().unwrap_or_else(PoisonError::into_inner).push(heard);
            Ok(())
        })
    }

    fn ignore(&self) -> Ignore {
        self.ignore
    }
}

fn heard(heard: &Mutex<Vec<Heard>>) -> Vec<Heard> {
    heard.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A manager with a [`PayloadReader`] for each of `flags`, in order, and what each hears.
fn readers<const N: usize>(flags: [Ignore; N]) -> (CallbackManager, [Arc<Mutex<Vec<Heard>>>; N]) {
    let mut callbacks = CallbackManager::new();
    let heard = flags.map(|ignore| {
        let (reader, heard) = PayloadReader::new(ignore);
        callbacks = std::mem::take(&mut callbacks).with_handler(reader);
        heard
    });
    (callbacks, heard)
}

/// A chain whose child is a tool, each taking and returning a value that counts its
/// serializations, under `callbacks`, flushed: how many serializations there were.
fn chain_and_tool(callbacks: &CallbackManager) -> Result<usize, CallbackError> {
    let value = Counted::default();
    let chain = callbacks.start_run(RunKind::Chain, "chain", &value)?;
    chain.children().start_run(RunKind::Tool, "tool", &value)?.end(&value)?;
    chain.end(&value)?;
    callbacks.flush_blocking();
    Ok(value.serializations())
}

fn omitted(event: &str) -> Heard {
    (event.to_owned(), true, serde_json::Value::Null)
}

fn made(event: &str) -> Heard {
    (event.to_owned(), false, serde_json::json!("counted"))
}

const EVERY_START_AND_END: [&str; 4] = ["chain start", "tool start", "tool end", "chain end"];

#[test]
fn an_async_handler_ignoring_payloads_gets_every_event_and_no_payload_is_made_for_it() -> Result<(), CallbackError> {
    let (callbacks, [ignored]) = readers([Ignore::PAYLOADS]);
    assert_eq!(chain_and_tool(&callbacks)?, 0, "no input or output was serialized");
    assert_eq!(heard(&ignored), EVERY_START_AND_END.map(omitted));
    Ok(())
}

#[test]
fn an_async_handler_reading_payloads_beside_one_ignoring_them_gets_them_made_once() -> Result<(), CallbackError> {
    let (callbacks, [ignored, read]) = readers([Ignore::PAYLOADS, Ignore::NONE]);
    assert_eq!(chain_and_tool(&callbacks)?, 4, "each input and output once, shared by both copies");
    assert_eq!(heard(&read), EVERY_START_AND_END.map(made));
    assert_eq!(heard(&ignored), EVERY_START_AND_END.map(made), "the two handlers share one copy of each event");
    Ok(())
}

#[test]
fn payloads_are_made_only_for_the_events_a_handler_reading_them_hears() -> Result<(), CallbackError> {
    let (callbacks, [ignored, read]) = readers([Ignore::PAYLOADS, Ignore::TOOL]);
    assert_eq!(chain_and_tool(&callbacks)?, 2, "the chain's input and output, not the tool's");
    assert_eq!(heard(&read), ["chain start", "chain end"].map(made));
    assert_eq!(heard(&ignored), [made("chain start"), omitted("tool start"), omitted("tool end"), made("chain end")]);
    Ok(())
}

#[test]
fn a_sync_handler_still_reads_payloads_beside_an_async_handler_ignoring_them() -> Result<(), CallbackError> {
    let (callbacks, [ignored]) = readers([Ignore::PAYLOADS]);
    let recorder = Arc::new(RecordingHandler::new());
    chain_and_tool(&callbacks.with_handler(recorder.clone()))?;

    let recorded: Vec<serde_json::Value> = recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            runtrace::EventData::Start(start) => Some(start.inputs.get().clone()),
            runtrace::EventData::End(end) => Some(end.outputs.get().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(recorded, vec![serde_json::json!("counted"); 4]);
    assert_eq!(heard(&ignored), EVERY_START_AND_END.map(omitted));
    Ok(())
}
