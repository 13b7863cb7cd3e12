//! `callbacks = expr`: constructor callbacks, evaluated per call and local to the object's
//! own run: its handlers, tags and metadata never reach the run's children.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use crate::common::{Faulty, ToolError, names, recording, start_of};
use runtrace::event::EventType;
use runtrace::prelude::*;
use serde_json::{Value, json};

#[traced_run(kind = "llm")]
fn fake_llm(prompt: String, run: &RunManager) -> Result<String, ToolError> {
    run.on_llm_new_token("ok")?;
    Ok(format!("{prompt}: ok"))
}

struct QaChain {
    callbacks: CallbackManager,
}

impl QaChain {
    #[traced_run(kind = "chain", callbacks = self.callbacks)]
    fn call(&self, question: String, run: &RunManager) -> Result<String, ToolError> {
        fake_llm(question, run)
    }

    #[traced_run(kind = "chain", callbacks = self.callbacks)]
    async fn acall(&self, question: String, run: &RunManager) -> Result<String, ToolError> {
        tokio::task::yield_now().await;
        fake_llm(question, run)
    }
}

#[test]
fn constructor_callbacks_hear_the_objects_own_run_only() -> Result<(), ToolError> {
    let (constructor, own) = recording();
    let chain = QaChain { callbacks: own };

    assert_eq!(chain.call("hi".into(), CallbackManager::none())?, "hi: ok");

    assert_eq!(names(&constructor), ["QaChain::call"]);
    assert_eq!(constructor.event_types(), [EventType::Start, EventType::End]);
    Ok(())
}

#[tokio::test]
async fn request_callbacks_hear_everything_beside_the_constructor_callbacks() -> Result<(), ToolError> {
    let (constructor, own) = recording();
    let (request, callbacks) = recording();
    let chain = QaChain { callbacks: own };

    chain.acall("hi".into(), &callbacks).await?;

    assert_eq!(names(&constructor), ["QaChain::acall"]);
    assert_eq!(names(&request), ["QaChain::acall", "fake_llm"]);
    assert_eq!(
        request.event_types(),
        [EventType::Start, EventType::Start, EventType::NewToken, EventType::End, EventType::End]
    );
    assert_eq!(constructor.runs()[0], request.runs()[0]);
    Ok(())
}

#[test]
fn a_handler_given_as_both_request_and_constructor_callback_hears_each_event_once() -> Result<(), ToolError> {
    let (recorder, callbacks) = recording();
    let chain = QaChain { callbacks: callbacks.clone() };

    chain.call("hi".into(), &callbacks)?;

    assert_eq!(names(&recorder), ["QaChain::call", "fake_llm"]);
    assert_eq!(recorder.len(), 5);
    Ok(())
}

/// Calls a chain whose constructor callbacks are `constructor`, with request tags, and
/// returns the (tags, metadata) of the chain's start and of its child's.
fn constructor_scoping(constructor: CallbackManager) -> Result<[(Vec<String>, Value); 2], ToolError> {
    let (request, callbacks) = recording();
    let chain = QaChain { callbacks: constructor };

    chain.call("hi".into(), &callbacks.with_tags(["request"]))?;

    Ok(["QaChain::call", "fake_llm"].map(|name| {
        let start = start_of(&request, name);
        (start.tags.to_vec(), Value::Object(start.metadata.to_map()))
    }))
}

#[test]
fn constructor_tags_and_metadata_are_local_to_the_objects_run() -> Result<(), ToolError> {
    let (_constructor, own) = recording();

    let [own, child] = constructor_scoping(own.with_tags(["qa"]).with_metadata([("chain_version", 2)]))?;

    assert_eq!(own, (vec!["request".to_owned(), "qa".to_owned()], json!({"chain_version": 2})));
    assert_eq!(child, (vec!["request".to_owned()], json!({})));
    Ok(())
}

#[test]
fn constructor_tags_and_metadata_apply_even_when_the_constructor_has_no_handlers() -> Result<(), ToolError> {
    let [own, child] =
        constructor_scoping(CallbackManager::new().with_tags(["qa"]).with_metadata([("chain_version", 2)]))?;

    assert_eq!(own, (vec!["request".to_owned(), "qa".to_owned()], json!({"chain_version": 2})));
    assert_eq!(child, (vec!["request".to_owned()], json!({})));
    Ok(())
}

impl QaChain {
    #[traced_run(callbacks = self.callbacks)]
    fn is_heard(&self, run: &RunManager) -> bool {
        run.is_recording()
    }
}

#[test]
fn empty_constructor_callbacks_without_request_callbacks_record_nothing() {
    let (_constructor, own) = recording();

    assert!(!QaChain { callbacks: CallbackManager::new() }.is_heard(CallbackManager::none()));
    assert!(QaChain { callbacks: own }.is_heard(CallbackManager::none()));
}

// ---------------------------------------------------------------------------------------------
// The expression: evaluated per call, of any form giving a `CallbackManager`

struct Router {
    by_call: Vec<CallbackManager>,
    calls: AtomicUsize,
}

impl Router {
    fn pick(&self) -> &CallbackManager {
        &self.by_call[self.calls.fetch_add(1, Ordering::SeqCst)]
    }

    #[traced_run(callbacks = self.pick())]
    fn route(&self, to: u8) -> u8 {
        to
    }
}

#[test]
fn callbacks_expression_is_evaluated_on_every_call() {
    let (first, first_callbacks) = recording();
    let (second, second_callbacks) = recording();
    let router = Router { by_call: vec![first_callbacks, second_callbacks], calls: AtomicUsize::new(0) };

    router.route(1, CallbackManager::none());
    router.route(2, CallbackManager::none());

    assert_eq!(router.calls.load(Ordering::SeqCst), 2);
    let input = |recorder: &RecordingHandler| start_of(recorder, "Router::route").inputs.get().clone();
    assert_eq!(input(&first), json!({"to": 1}));
    assert_eq!(input(&second), json!({"to": 2}));
}

static AUDIT: LazyLock<Arc<RecordingHandler>> = LazyLock::new(|| Arc::new(RecordingHandler::new()));
static AUDIT_CALLBACKS: LazyLock<CallbackManager> =
    LazyLock::new(|| CallbackManager::new().with_handler(Arc::clone(&AUDIT)));

#[traced_run(kind = "tool", callbacks = AUDIT_CALLBACKS)]
fn audited(amount: u32) -> u32 {
    amount
}

#[test]
fn callbacks_expression_may_name_a_static_of_a_free_fn() {
    audited(5, CallbackManager::none());

    assert_eq!(names(&AUDIT), ["audited"]);
    assert_eq!(AUDIT.event_types(), [EventType::Start, EventType::End]);
}

// ---------------------------------------------------------------------------------------------
// Constructor handlers that raise stop the run like request handlers do

struct Guarded {
    callbacks: CallbackManager,
    ran: AtomicBool,
}

impl Guarded {
    #[traced_run(callbacks = self.callbacks)]
    fn act(&self) -> Result<(), ToolError> {
        self.ran.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_raising_constructor_handler_refusing_the_start_stops_the_call() {
    let refuse_start = Faulty::fails_at("refuse-start", [EventType::Start], "not allowed").raising();
    let guarded = Guarded { callbacks: CallbackManager::new().with_handler(refuse_start), ran: AtomicBool::new(false) };

    let outcome = guarded.act(CallbackManager::none());

    assert!(matches!(outcome, Err(ToolError::Callback(CallbackError::Raised { event: EventType::Start, .. }))));
    assert!(!guarded.ran.load(Ordering::SeqCst));
}
