//! Traced streams: a function returning a stream keeps its run open until the stream ends,
//! yields an `Err` or is dropped; its items become the run's tokens and output; and a stream
//! that misbehaves (polled after its end, panicking, dropped in a panic, a reduction that
//! panics) still gets one end or error per start, its own panic going on to its caller.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;

use futures::executor::block_on;
use futures::stream::{self, BoxStream, Stream, StreamExt as _};
use runtrace::event::{ErrorCause, EventType, ModelOutput, Usage};
use runtrace::prelude::*;
use serde_json::json;

use crate::common::{Counted, Faulty, ToolError, ends, outputs, recording, the_error, with_warnings};
use crate::macro_ends::assert_one_end_per_start;

#[traced_run]
fn words(text: &'static str) -> impl Stream<Item = String> {
    stream::iter(text.split(' ').map(|word| format!("{word} ")))
}

#[traced_run]
fn counts(to: u32) -> impl Stream<Item = u32> {
    stream::iter(1..=to)
}

#[traced_run]
fn checked(items: Vec<Result<&'static str, &'static str>>) -> impl Stream<Item = Result<String, ToolError>> {
    stream::iter(tool_results(items))
}

/// The items of `checked` and `aliased_replies`: a `ToolError` for each `Err`.
fn tool_results(items: Vec<Result<&'static str, &'static str>>) -> impl Iterator<Item = Result<String, ToolError>> {
    items.into_iter().map(|item| item.map(str::to_owned).map_err(|bad| ToolError::BadInput(bad.into())))
}

/// What reading a stream of `Ok`, `Err("b")`, `Ok` leaves: the caller read every item, and
/// the run failed with the error and never ended.
fn assert_failed_by_its_err_item(recorder: &RecordingHandler, read: &[Result<String, ToolError>]) {
    assert_eq!(read.len(), 3, "the caller still reads every item");
    let error = the_error(recorder);
    assert_eq!((error.message.as_str(), error.cause), ("bad input: b", ErrorCause::Returned));
    assert!(error.type_name.as_deref().is_some_and(|name| name.ends_with("ToolError")), "{error:?}");
    assert!(ends(recorder).is_empty());
    assert_one_end_per_start(recorder);
}

/// The tokens the runs streamed, in order.
fn tokens(recorder: &RecordingHandler) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter_map(|event| match &event.data {
            EventData::NewToken(token) => Some(token.to_string()),
            _ => None,
        })
        .collect()
}

fn types(recorder: &RecordingHandler) -> Vec<EventType> {
    recorder.events().iter().map(|event| event.event_type()).collect()
}

#[test]
fn the_run_ends_when_the_stream_ends_not_when_it_is_made() {
    let (recorder, callbacks) = recording();
    let stream = words("Hello traced world", &callbacks);
    assert_eq!(types(&recorder), [EventType::Start], "made, not yet read");
    let read: Vec<String> = block_on(stream.collect());
    assert_eq!(read, ["Hello ", "traced ", "world "]);
    assert_eq!(types(&recorder), [EventType::Start, EventType::End]);
    assert_eq!(outputs(&recorder), [json!("Hello traced world ")], "string items are concatenated");
}

#[test]
fn items_that_are_not_strings_make_a_list() {
    let (recorder, callbacks) = recording();
    let read: Vec<u32> = block_on(counts(3, &callbacks).collect());
    assert_eq!(read, [1, 2, 3]);
    assert_eq!(outputs(&recorder), [json!([1, 2, 3])]);
}

#[test]
fn an_empty_stream_ends_its_run_with_an_empty_list() {
    let (recorder, callbacks) = recording();
    assert_eq!(block_on(counts(0, &callbacks).count()), 0);
    assert_eq!(outputs(&recorder), [json!([])]);
}

#[test]
fn an_err_item_fails_the_run_and_the_stream_goes_on_unrecorded() {
    let (recorder, callbacks) = recording();
    let read: Vec<Result<String, ToolError>> =
        block_on(checked(vec![Ok("a"), Err("b"), Ok("c")], &callbacks).collect());
    assert_failed_by_its_err_item(&recorder, &read);
}

#[test]
fn a_stream_dropped_before_its_end_cancels_its_run() {
    let (recorder, callbacks) = recording();
    let mut stream = Box::pin(counts(3, &callbacks));
    assert_eq!(block_on(stream.next()), Some(1));
    drop(stream);
    assert_eq!(the_error(&recorder).cause, ErrorCause::Cancelled);
    assert_one_end_per_start(&recorder);
}

#[traced_run(kind = "llm", tokens)]
fn completion(prompt: &str) -> impl Stream<Item = &'static str> {
    let _ = prompt;
    stream::iter(["Hel", "lo", "!"])
}

/// A provider's stream chunk: text, and the usage on the last one.
#[derive(serde::Serialize)]
struct Chunk {
    text: Option<&'static str>,
    usage: Option<(u64, u64)>,
}

impl ModelOutput for Chunk {
    fn usage(&self) -> Option<Usage> {
        self.usage.map(|(prompt, completion)| Usage::new(prompt, completion))
    }
}

fn chunk_text(chunk: &Chunk) -> Option<&str> {
    chunk.text
}

fn join_text(chunks: Vec<serde_json::Value>) -> String {
    chunks.iter().filter_map(|chunk| chunk["text"].as_str()).collect()
}

#[traced_run(kind = "chat_model", tokens = chunk_text, reduce = join_text)]
fn chunks() -> Pin<Box<dyn Stream<Item = Chunk> + Send>> {
    Box::pin(stream::iter([
        Chunk { text: Some("Hi"), usage: None },
        Chunk { text: Some(" there"), usage: None },
        Chunk { text: None, usage: Some((7, 2)) },
    ]))
}

#[test]
fn tokens_sends_each_item_as_a_token_and_times_the_first() {
    let (recorder, callbacks) = recording();
    let _: Vec<&str> = block_on(completion("hi", &callbacks).collect());
    assert_eq!(tokens(&recorder), ["Hel", "lo", "!"]);
    let (_, end) = &ends(&recorder)[0];
    assert!(end.model.as_ref().is_some_and(|model| model.time_to_first_token.is_some()));
    assert_eq!(outputs(&recorder), [json!("Hello!")]);
}

#[test]
fn a_projection_picks_the_tokens_reduce_makes_the_output_and_a_final_usage_counts_once() {
    let (recorder, callbacks) = recording();
    assert_eq!(block_on(chunks(&callbacks).count()), 3);
    let types = types(&recorder);
    assert_eq!(types.iter().filter(|kind| **kind == EventType::NewToken).count(), 2, "the usage chunk has no text");
    assert_eq!(types.iter().filter(|kind| **kind == EventType::Usage).count(), 1);
    let (_, end) = &ends(&recorder)[0];
    assert_eq!(end.model.as_ref().and_then(|model| model.usage), Some(Usage::new(7, 2)));
    assert_eq!(outputs(&recorder), [json!("Hi there")]);
}

#[traced_run(skip_output)]
fn unrecorded() -> BoxStream<'static, u32> {
    stream::iter([1, 2]).boxed()
}

#[traced_run(redact_output)]
fn secret() -> impl Stream<Item = &'static str> {
    stream::iter(["pass", "word"])
}

#[test]
fn skip_output_and_redact_output_keep_the_items_out_of_the_record() {
    let (recorder, callbacks) = recording();
    assert_eq!(block_on(unrecorded(&callbacks).count()), 2);
    assert_eq!(block_on(secret(&callbacks).count()), 2);
    assert_eq!(outputs(&recorder), [json!(null), json!("[REDACTED]")]);
}

#[traced_run]
async fn fetched(pages: u32) -> impl Stream<Item = u32> {
    tokio::task::yield_now().await;
    stream::iter(0..pages)
}

#[tokio::test]
async fn an_async_fn_returning_a_stream_ends_its_run_with_the_stream() {
    let (recorder, callbacks) = recording();
    let stream = fetched(2, &callbacks).await;
    assert_eq!(types(&recorder), [EventType::Start]);
    assert_eq!(stream.collect::<Vec<_>>().await, [0, 1]);
    assert_eq!(outputs(&recorder), [json!([0, 1])]);
}

type Numbers = Pin<Box<dyn Stream<Item = u32> + Send>>;

#[traced_run(stream)]
fn aliased() -> Numbers {
    Box::pin(stream::iter([4, 5]))
}

#[test]
fn stream_marks_a_stream_behind_an_alias() {
    let (recorder, callbacks) = recording();
    assert_eq!(types(&recorder), Vec::<EventType>::new());
    let stream = aliased(&callbacks);
    assert_eq!(types(&recorder), [EventType::Start]);
    assert_eq!(block_on(stream.count()), 2);
    assert_eq!(outputs(&recorder), [json!([4, 5])]);
}

/// What a model client's streaming call returns, as `async-openai`'s
/// `ChatCompletionResponseStream` does: the items are `Result`s, which only the alias says.
type Replies = Pin<Box<dyn Stream<Item = Result<String, ToolError>> + Send>>;

#[traced_run(kind = "llm", stream, tokens)]
fn aliased_replies(items: Vec<Result<&'static str, &'static str>>) -> Replies {
    Box::pin(stream::iter(tool_results(items)))
}

#[test]
fn an_err_item_of_a_stream_behind_an_alias_fails_the_run() {
    let (recorder, callbacks) = recording();
    let read: Vec<Result<String, ToolError>> =
        block_on(aliased_replies(vec![Ok("Hel"), Err("b"), Ok("c")], &callbacks).collect());
    assert_failed_by_its_err_item(&recorder, &read);
    assert_eq!(tokens(&recorder), ["Hel"], "the Ok values are the tokens, up to the error");
}

#[test]
fn the_ok_items_of_a_stream_behind_an_alias_make_its_output() {
    let (recorder, callbacks) = recording();
    let read: Vec<Result<String, ToolError>> =
        block_on(aliased_replies(vec![Ok("Hel"), Ok("lo")], &callbacks).collect());
    assert_eq!(read.len(), 2);
    assert_eq!(outputs(&recorder), [json!("Hello")], "the Ok values, concatenated as strings");
}

#[test]
fn a_handlers_stop_reaches_the_reader_of_a_stream_behind_an_alias_as_an_err_item() {
    let (recorder, callbacks) = refusing_tokens();
    let read: Vec<Result<String, ToolError>> = block_on(aliased_replies(vec![Ok("a"), Ok("b")], &callbacks).collect());
    assert!(matches!(read.as_slice(), [Err(ToolError::Callback(_))]), "{read:?}");
    assert_eq!(the_error(&recorder).cause, ErrorCause::Stopped);
    assert_one_end_per_start(&recorder);
}

/// A crate's own result alias, as the items of a stream whose type is written.
type ToolAnswer<T> = Result<T, ToolError>;

#[traced_run(kind = "tool", tokens)]
fn alias_items(items: Vec<Result<&'static str, &'static str>>) -> impl Stream<Item = ToolAnswer<String>> {
    stream::iter(tool_results(items))
}

#[traced_run(kind = "tool", err(Display))]
fn boxed_alias_items(items: Vec<Result<&'static str, &'static str>>) -> BoxStream<'static, ToolAnswer<String>> {
    stream::iter(tool_results(items)).boxed()
}

#[test]
fn an_err_item_of_a_written_result_alias_fails_the_run() {
    let (recorder, callbacks) = recording();
    let read: Vec<_> = block_on(alias_items(vec![Ok("Hel"), Err("b"), Ok("c")], &callbacks).collect());
    assert_failed_by_its_err_item(&recorder, &read);
    assert_eq!(tokens(&recorder), ["Hel"], "the Ok values are the tokens, up to the error");

    let (recorder, callbacks) = recording();
    let read: Vec<_> = block_on(boxed_alias_items(vec![Ok("Hel"), Err("b"), Ok("c")], &callbacks).collect());
    assert_failed_by_its_err_item(&recorder, &read);
}

#[test]
fn the_ok_values_of_written_result_alias_items_make_the_output_and_a_stop_is_an_err_item() {
    let (recorder, callbacks) = recording();
    let read: Vec<_> = block_on(alias_items(vec![Ok("Hel"), Ok("lo")], &callbacks).collect());
    assert_eq!(read.len(), 2);
    assert_eq!(outputs(&recorder), [json!("Hello")], "the Ok values, not {{\"Ok\": ..}} objects");

    let (recorder, callbacks) = refusing_tokens();
    let read: Vec<_> = block_on(alias_items(vec![Ok("a"), Ok("b")], &callbacks).collect());
    assert!(matches!(read.as_slice(), [Err(ToolError::Callback(_))]), "{read:?}");
    assert_eq!(the_error(&recorder).cause, ErrorCause::Stopped);
}

#[test]
fn an_unheard_stream_yields_the_same_items() {
    let read: Vec<u32> = block_on(counts(3, CallbackManager::none()).collect());
    assert_eq!(read, [1, 2, 3]);
    assert_eq!(block_on(aliased(CallbackManager::none()).count()), 2);
}

#[traced_run(kind = "chain")]
fn outer(run: &RunManager) -> impl Stream<Item = u32> {
    let inner = counts(2, run);
    inner.map(|n| n * 10)
}

#[test]
fn a_stream_made_inside_a_traced_run_is_its_child() {
    let (recorder, callbacks) = recording();
    assert_eq!(block_on(outer(&callbacks).collect::<Vec<_>>()), [10, 20]);
    let runs = recorder.runs();
    let (outer, inner) = (&runs[0], &runs[1]);
    assert_eq!(inner.parent_run_id, Some(outer.run_id));
    assert_one_end_per_start(&recorder);
}

#[traced_run]
fn counted_items<'a>(item: &'a Counted) -> impl Stream<Item = &'a Counted> {
    stream::iter([item, item])
}

#[test]
fn each_item_is_serialized_once_for_the_output() {
    let (_recorder, callbacks) = recording();
    let item = Counted::default();
    assert_eq!(block_on(counted_items(&item, &callbacks).count()), 2);
    assert_eq!(item.serializations(), 3, "the argument once, each item once");
}

struct Model {
    name: &'static str,
}

impl Model {
    #[traced_run(kind = "llm", tokens)]
    fn stream(&self, prompt: &str) -> impl Stream<Item = String> + use<> {
        stream::iter([format!("{} says {prompt}", self.name)])
    }
}

#[traced_run]
fn displayed(value: impl std::fmt::Display + serde::Serialize + Sync) -> impl Stream<Item = String> {
    stream::iter([value.to_string()])
}

#[test]
fn methods_and_functions_with_impl_arguments_return_traced_streams() {
    let (recorder, callbacks) = recording();
    let model = Model { name: "echo" };
    assert_eq!(block_on(model.stream("hi", &callbacks).count()), 1);
    assert_eq!(block_on(displayed(7, &callbacks).collect::<Vec<_>>()), ["7"]);
    assert_eq!(outputs(&recorder), [json!("echo says hi"), json!("7")]);
    assert_one_end_per_start(&recorder);
}

#[traced_run(kind = "llm", tokens)]
fn fallible_tokens() -> impl Stream<Item = Result<String, ToolError>> {
    stream::iter(vec![Ok("a".to_owned()), Ok("b".to_owned())])
}

/// Request callbacks with a recorder and a handler that raises on every token.
fn refusing_tokens() -> (std::sync::Arc<RecordingHandler>, CallbackManager) {
    let (recorder, callbacks) = recording();
    (recorder, callbacks.with_handler(Faulty::fails_at("budget", [EventType::NewToken], "budget exceeded").raising()))
}

#[test]
fn a_handlers_stop_on_a_token_ends_a_result_stream_with_its_error() {
    let (recorder, callbacks) = refusing_tokens();
    let read: Vec<Result<String, ToolError>> = block_on(fallible_tokens(&callbacks).collect());
    assert!(matches!(read.as_slice(), [Err(ToolError::Callback(_))]), "{read:?}");
    let error = the_error(&recorder);
    assert_eq!(error.cause, ErrorCause::Stopped, "{error:?}");
    assert!(error.message.contains("budget exceeded"), "{error:?}");
    assert_one_end_per_start(&recorder);
}

#[test]
fn a_stream_whose_items_cannot_carry_a_stop_goes_on_with_a_warning() {
    let (recorder, callbacks) = refusing_tokens();
    let (read, warnings) = with_warnings(|| block_on(completion("hi", &callbacks).collect::<Vec<_>>()));
    assert_eq!(read, ["Hel", "lo", "!"]);
    assert!(warnings.iter().any(|warning| warning.message.contains("cannot carry the error")), "{warnings:?}");
    assert_eq!(ends(&recorder).len(), 1, "the run ends as the stream does");
    assert_one_end_per_start(&recorder);
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn a_stream_polled_after_its_end_ends_its_run_once() {
    let (recorder, callbacks) = recording();
    let mut stream = Box::pin(counts(1, &callbacks));
    assert_eq!(block_on(stream.next()), Some(1));
    assert_eq!(block_on(stream.next()), None);
    assert_eq!(block_on(stream.next()), None, "answered without polling the ended stream");
    assert_one_end_per_start(&recorder);
}

#[traced_run]
fn panicking() -> impl Stream<Item = u32> {
    stream::iter([1, 2]).map(|n| if n == 2 { panic!("bad chunk") } else { n })
}

#[test]
fn a_stream_that_panics_in_poll_next_fails_its_run_and_the_panic_goes_on() {
    let (recorder, callbacks) = recording();
    let mut stream = Box::pin(panicking(&callbacks));
    assert_eq!(block_on(stream.next()), Some(1));
    let caught = catch_unwind(AssertUnwindSafe(|| block_on(stream.next())));
    assert!(caught.is_err(), "the user's panic reaches the caller");
    let error = the_error(&recorder);
    assert_eq!(error.cause, ErrorCause::Panicked);
    assert!(error.message.contains("bad chunk"), "{error:?}");
    drop(stream);
    assert_one_end_per_start(&recorder);
}

#[test]
fn a_stream_dropped_inside_a_panic_fails_its_run_as_panicked() {
    let (recorder, callbacks) = recording();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _stream = counts(3, &callbacks);
        panic!("the caller panicked");
    }));
    assert!(caught.is_err());
    assert_eq!(the_error(&recorder).cause, ErrorCause::Panicked);
    assert_one_end_per_start(&recorder);
}

fn panicking_reduce(_: Vec<serde_json::Value>) -> u32 {
    panic!("cannot reduce")
}

#[traced_run(reduce = panicking_reduce)]
fn badly_reduced() -> impl Stream<Item = u32> {
    stream::iter([1, 2])
}

#[test]
fn a_reduce_function_that_panics_fails_the_run_and_the_stream_ends_as_usual() {
    let (recorder, callbacks) = recording();
    let read = catch_unwind(AssertUnwindSafe(|| block_on(badly_reduced(&callbacks).collect::<Vec<_>>())));
    assert_eq!(read.ok(), Some(vec![1, 2]), "no panic escapes runtrace's code");
    let error = the_error(&recorder);
    assert_eq!(error.cause, ErrorCause::Panicked);
    assert!(error.message.contains("cannot reduce"), "{error:?}");
    assert_one_end_per_start(&recorder);
}

/// A boxed stream whose items are opaque: the traced stream is boxed again, as the type says.
#[traced_run]
fn opaque_boxed(words: Vec<&'static str>) -> BoxStream<'static, impl serde::Serialize + Send + 'static> {
    stream::iter(words).boxed()
}

#[traced_run]
async fn opaque_boxed_later(words: Vec<&'static str>) -> BoxStream<'static, impl serde::Serialize + Send + 'static> {
    tokio::task::yield_now().await;
    stream::iter(words).boxed()
}

/// A stream borrowing the caller's argument.
#[traced_run]
fn borrowed(text: &str) -> impl Stream<Item = &str> + '_ {
    stream::iter(text.split(' '))
}

#[tokio::test]
async fn streams_of_opaque_items_or_borrowing_an_argument_are_traced() {
    let (recorder, callbacks) = recording();
    assert_eq!(opaque_boxed(vec!["a", "b"], &callbacks).count().await, 2);
    assert_eq!(opaque_boxed_later(vec!["c"], &callbacks).await.count().await, 1);
    let text = String::from("one two");
    let words: Vec<&str> = borrowed(&text, &callbacks).collect().await;
    assert_eq!(words, ["one", "two"]);
    assert_eq!(outputs(&recorder), [json!("ab"), json!("c"), json!("onetwo")], "text items join into one text");
    assert_one_end_per_start(&recorder);
}
