//! With no handlers, tracing costs no allocation and serializes nothing: the counting global
//! allocator watches the calls a traced function makes. It counts per thread, so tests may run
//! in parallel.

use std::hint::black_box;

use crate::ALLOCATOR;
// `Counted` allocates once, when made: every test below makes its own before it measures.
use crate::common::Counted;
use runtrace::{CallbackError, CallbackManager, RunKind, RunManager};

/// How many allocations `f` made on this thread.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATOR.here();
    let result = black_box(f());
    (result, (ALLOCATOR.here() - before).allocations)
}

#[test]
fn the_counter_sees_allocations() {
    let ((), allocations) = allocations_in(|| drop(black_box(vec![1u8; 64])));
    assert_eq!(allocations, 1, "the allocator counts, so a zero below means something");
}

#[test]
fn starting_and_ending_a_run_with_no_handlers_allocates_nothing() {
    let question = Counted::default();
    let (ended, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let run = CallbackManager::none().start_run(RunKind::Chain, "answer", &question)?;
        run.end(&"4")
    });
    assert!(ended.is_ok());
    assert_eq!(allocations, 0);
    assert_eq!(question.serializations(), 0, "inputs are not serialized when no handler listens");
}

#[test]
fn streaming_from_a_run_with_no_handlers_allocates_nothing() {
    let (streamed, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let run = CallbackManager::none().start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
        for token in ["Hel", "lo"] {
            run.on_llm_new_token(black_box(token))?;
        }
        run.on_text("done")?;
        run.on_retry(1, "rate limited")?;
        run.on_custom_event("usage", &[1, 2, 3])?;
        run.children().dispatch_custom_event("usage", &[1, 2, 3])?;
        run.end(&"Hello")
    });
    assert!(streamed.is_ok());
    assert_eq!(allocations, 0);
}

#[test]
fn nested_runs_with_no_handlers_allocate_nothing() {
    let question = Counted::default();
    let (nested, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &question)?;
        let child = chain.get_child(None);
        let tool = child.start_run(RunKind::Tool, "calculator", &question)?;
        let model = tool.children().start_run(RunKind::Llm, "fake_llm", &question)?;
        model.on_llm_new_token("4")?;
        model.end(&"4")?;
        tool.end(&4)?;
        chain.end(&"4")
    });
    assert!(nested.is_ok());
    assert_eq!(allocations, 0);
    assert_eq!(question.serializations(), 0);
}

#[test]
fn runs_of_an_empty_new_manager_or_a_noop_run_allocate_nothing() {
    let (ran, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let callbacks = CallbackManager::new();
        callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
        let parent = RunManager::noop();
        parent.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
        parent.get_child(None).start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)
    });
    assert!(ran.is_ok());
    assert_eq!(allocations, 0);
}

#[test]
fn failing_or_dropping_a_run_with_no_handlers_allocates_nothing() {
    let (failed, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let run = CallbackManager::none().start_run(RunKind::Tool, "calculator", &"1/0")?;
        run.error(&"division by zero")?;
        drop(CallbackManager::none().start_run(RunKind::Tool, "calculator", &"1/0")?);
        Ok(())
    });
    assert!(failed.is_ok());
    assert_eq!(allocations, 0);
}

#[test]
fn tagged_child_of_a_run_with_no_handlers_allocates_nothing() {
    let (ran, allocations) = allocations_in(|| -> Result<(), CallbackError> {
        let chain = CallbackManager::none().start_run(RunKind::Chain, "map", &())?;
        let step = chain.get_child("step:1").start_run(RunKind::Tool, "calculator", &"2+2")?;
        step.end(&4)?;
        chain.end(&())
    });
    assert!(ran.is_ok());
    assert_eq!(allocations, 0);
}

/// A traced function with every option that could cost something per call.
#[runtrace::traced_run(
    kind = "retriever",
    tags("search"),
    metadata(index = metadata_evaluations()),
    callbacks = CallbackManager::none(),
    verbose = false
)]
fn search(query: &Counted, run: &RunManager) -> usize {
    run.on_text("searching").map_or(0, |()| 1)
}

static METADATA_EVALUATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn metadata_evaluations() -> usize {
    METADATA_EVALUATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn a_traced_call_with_tags_metadata_and_constructor_callbacks_allocates_nothing() {
    let query = Counted::default();
    let (found, allocations) = allocations_in(|| search(&query, CallbackManager::none()));
    assert_eq!((found, allocations), (1, 0));
    assert_eq!(query.serializations(), 0);
}

/// Regression: a trace scope alive on another thread raised the process-wide watch, and
/// every no-handler call on every thread then configured a manager and evaluated metadata.
#[test]
fn a_trace_scope_on_another_thread_costs_this_thread_nothing() {
    let (entered, entered_rx) = std::sync::mpsc::channel();
    let (leave, leave_rx) = std::sync::mpsc::channel::<()>();
    let scope = std::thread::spawn(move || {
        runtrace::tracer::collect_runs(|| {
            let _ = entered.send(());
            let _ = leave_rx.recv();
        })
    });
    entered_rx.recv().expect("the scope is live");

    let query = Counted::default();
    let evaluations_before = METADATA_EVALUATIONS.load(std::sync::atomic::Ordering::Relaxed);
    let (found, allocations) = allocations_in(|| search(&query, CallbackManager::none()));
    let evaluations = METADATA_EVALUATIONS.load(std::sync::atomic::Ordering::Relaxed) - evaluations_before;

    let _ = leave.send(());
    let ((), trees) = scope.join().expect("the scope thread ends");
    assert_eq!((found, allocations, evaluations), (1, 0, 0));
    assert!(trees.is_empty(), "the scope saw none of this thread's runs");
}

#[runtrace::traced_run]
fn counted_items<'a>(item: &'a Counted) -> impl futures::Stream<Item = &'a Counted> {
    futures::stream::iter([item, item, item])
}

#[test]
fn a_traced_stream_with_no_handlers_allocates_nothing_and_records_no_item() {
    use futures::Stream as _;
    let item = Counted::default();
    let (read, allocations) = allocations_in(|| {
        let mut stream = std::pin::pin!(counted_items(&item, CallbackManager::none()));
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        let mut read = 0;
        while let std::task::Poll::Ready(Some(_)) = stream.as_mut().poll_next(&mut cx) {
            read += 1;
        }
        read
    });
    assert_eq!(read, 3);
    assert_eq!(allocations, 0);
    assert_eq!(item.serializations(), 0, "items are not serialized when no handler listens");
}
