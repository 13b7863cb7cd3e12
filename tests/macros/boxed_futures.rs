//! Boxed futures: a traced function returning `Pin<Box<dyn Future>>` (what `#[async_trait]`
//! makes of an `async fn`) keeps its run open until the future finishes, and `#[async_trait]`
//! on the impl with `#[traced_run]` on its methods traces them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use async_trait::async_trait;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use runtrace::event::{ErrorCause, EventType};
use runtrace::prelude::*;
use serde_json::json;

use crate::common::{ToolError, names, outputs, recording, the_error};
use crate::macro_ends::assert_one_end_per_start;

#[traced_run(kind = "tool")]
fn lookup(key: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        key * 2
    })
}

#[traced_run]
fn checked(key: u32) -> BoxFuture<'static, Result<u32, ToolError>> {
    async move { if key == 0 { Err(ToolError::BadInput("zero".into())) } else { Ok(key) } }.boxed()
}

#[traced_run]
fn exploding() -> BoxFuture<'static, u32> {
    async { panic!("the future blew up") }.boxed()
}

fn types(recorder: &RecordingHandler) -> Vec<EventType> {
    recorder.events().iter().map(|event| event.event_type()).collect()
}

#[tokio::test]
async fn the_run_ends_when_the_boxed_future_finishes_with_its_output() {
    let (recorder, callbacks) = recording();
    let future = lookup(21, &callbacks);
    assert_eq!(types(&recorder), [EventType::Start], "made, not yet awaited");
    assert_eq!(future.await, 42);
    assert_eq!(types(&recorder), [EventType::Start, EventType::End]);
    assert_eq!(outputs(&recorder), [json!(42)]);
}

#[tokio::test]
async fn an_err_output_fails_the_run() {
    let (recorder, callbacks) = recording();
    assert!(checked(0, &callbacks).await.is_err());
    assert_eq!(the_error(&recorder).message, "bad input: zero");
    assert_one_end_per_start(&recorder);
}

#[tokio::test]
async fn a_dropped_boxed_future_cancels_its_run() {
    let (recorder, callbacks) = recording();
    drop(lookup(1, &callbacks));
    assert_eq!(the_error(&recorder).cause, ErrorCause::Cancelled);
    assert_one_end_per_start(&recorder);
}

#[tokio::test]
async fn a_panic_in_the_boxed_future_fails_its_run_and_goes_on() {
    let (recorder, callbacks) = recording();
    let caught = AssertUnwindSafe(exploding(&callbacks)).catch_unwind().await;
    assert!(caught.is_err());
    let error = the_error(&recorder);
    assert_eq!(error.cause, ErrorCause::Panicked);
    assert!(error.message.contains("the future blew up"), "{error:?}");
}

#[tokio::test]
async fn an_unheard_boxed_future_gives_the_same_output() {
    assert_eq!(lookup(2, CallbackManager::none()).await, 4);
}

#[async_trait]
trait Retriever {
    #[traced_run]
    async fn retrieve(&self, query: &str, run: &RunManager) -> Vec<String>;
}

struct Index;

#[async_trait]
impl Retriever for Index {
    #[traced_run(kind = "retriever")]
    async fn retrieve(&self, query: &str, run: &RunManager) -> Vec<String> {
        tokio::task::yield_now().await;
        vec![format!("doc about {query}"), format!("page {}", lookup(1, run).await)]
    }
}

#[tokio::test]
async fn async_trait_methods_are_traced_until_their_future_finishes_with_run_inside() {
    let (recorder, callbacks) = recording();
    let index: Box<dyn Retriever + Send + Sync> = Box::new(Index);
    let future = index.retrieve("rust", &callbacks);
    assert_eq!(names(&recorder), ["Index::retrieve"], "started at the call");
    assert_eq!(future.await, ["doc about rust", "page 2"]);
    assert_eq!(names(&recorder), ["Index::retrieve", "lookup"]);
    let runs = recorder.runs();
    assert_eq!(runs[1].parent_run_id, Some(runs[0].run_id), "`run` is the method's run, inside its future");
    assert_eq!(outputs(&recorder), [json!(2), json!(["doc about rust", "page 2"])]);
    assert_one_end_per_start(&recorder);
}
