//! How the error of an `Err` is recorded: rendered with `Display` (the default, or
//! `err(Display)`) or `Debug` (`err(Debug)`), with the error's Rust type.

use std::io;
use std::sync::Arc;

use crate::common::{recording, recording_ignoring, the_error};
use runtrace::event::ErrorCause;
use runtrace::prelude::*;

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("the calculator cannot parse `{input}`")]
    Parse { input: String },
}

#[traced_run(kind = "tool")]
fn by_default(input: String) -> Result<f64, ToolError> {
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[traced_run(kind = "tool", err(Display))]
fn by_display(input: String) -> Result<f64, ToolError> {
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[traced_run(kind = "tool", err(Debug))]
fn by_debug(input: String) -> Result<f64, ToolError> {
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[traced_run(kind = "tool", err(Debug))]
async fn by_debug_later(input: String) -> Result<f64, ToolError> {
    tokio::task::yield_now().await;
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[test]
fn error_is_rendered_with_display_by_default() {
    let (recorder, callbacks) = recording();

    assert!(by_default("two".into(), &callbacks).is_err());

    let error = the_error(&recorder);
    assert_eq!(error.message, "the calculator cannot parse `two`");
    assert_eq!(error.cause, ErrorCause::Returned);
}

#[test]
fn err_display_renders_like_the_default() {
    let (recorder, callbacks) = recording();

    assert!(by_display("two".into(), &callbacks).is_err());

    assert_eq!(the_error(&recorder).message, "the calculator cannot parse `two`");
}

#[test]
fn err_debug_renders_with_debug() {
    let (recorder, callbacks) = recording();

    assert!(by_debug("two".into(), &callbacks).is_err());

    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);
}

#[tokio::test]
async fn err_debug_renders_with_debug_in_async_fns() {
    let (recorder, callbacks) = recording();

    assert!(by_debug_later("two".into(), &callbacks).await.is_err());

    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);
}

#[test]
fn the_errors_rust_type_is_recorded() {
    let (recorder, callbacks) = recording();

    assert!(by_default("two".into(), &callbacks).is_err());

    let error = the_error(&recorder);
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<ToolError>()));
    assert!(error.type_name.as_deref().is_some_and(|name| name.ends_with("ToolError")));
}

#[traced_run]
fn open_file(path: String) -> io::Result<String> {
    Err(io::Error::new(io::ErrorKind::NotFound, format!("{path} is missing")))
}

#[traced_run(err(Debug))]
fn string_error(text: String) -> Result<u8, String> {
    Err(format!("no number in {text}"))
}

#[traced_run]
fn boxed_error(text: String) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<u8>()?)
}

#[test]
fn type_and_message_of_std_and_boxed_errors_are_recorded() {
    let (recorder, callbacks) = recording();
    assert!(open_file("app.toml".into(), &callbacks).is_err());
    let error = the_error(&recorder);
    assert_eq!(error.message, "app.toml is missing");
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<io::Error>()));

    let (recorder, callbacks) = recording();
    assert!(string_error("x".into(), &callbacks).is_err());
    let error = the_error(&recorder);
    assert_eq!(error.message, r#""no number in x""#);
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<String>()));

    let (recorder, callbacks) = recording();
    assert!(boxed_error("x".into(), &callbacks).is_err());
    let error = the_error(&recorder);
    assert_eq!(error.message, "invalid digit found in string");
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<Box<dyn std::error::Error + Send + Sync>>()));
}

#[test]
fn ok_of_a_fn_with_err_option_ends_normally() {
    let (recorder, callbacks) = recording();

    assert_eq!(by_debug("2.5".into(), &callbacks).ok(), Some(2.5));

    assert_eq!(recorder.event_types(), [runtrace::event::EventType::Start, runtrace::event::EventType::End]);
}

/// An error that counts how often it is rendered.
#[derive(Debug)]
struct Counted(Arc<std::sync::atomic::AtomicUsize>);

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f.write_str("counted")
    }
}

#[traced_run(kind = "tool", skip(renders))]
fn fails(renders: Arc<std::sync::atomic::AtomicUsize>) -> Result<(), Counted> {
    Err(Counted(renders))
}

#[test]
fn error_is_rendered_once_when_heard_and_never_without_handlers() {
    let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (recorder, callbacks) = recording();

    assert!(fails(renders.clone(), CallbackManager::none()).is_err());
    assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 0);

    assert!(fails(renders.clone(), &callbacks).is_err());
    assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(the_error(&recorder).message, "counted");
}

#[test]
fn error_is_never_rendered_for_a_handler_that_ignores_the_runs_kind() {
    let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (chains_only, callbacks) = recording_ignoring(runtrace::handlers::Ignore::TOOL);

    assert!(fails(renders.clone(), &callbacks).is_err());

    assert!(chains_only.is_empty());
    assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// An error whose `Display` panics, or returns `fmt::Error` as `to_string` refuses, and
/// whose `Debug` does the same: the user's rendering code, run inside runtrace.
#[derive(PartialEq)]
enum Unrenderable {
    Panics,
    Fails,
}

impl std::fmt::Display for Unrenderable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrenderable::Panics => panic!("the message catalogue is not loaded"),
            Unrenderable::Fails => Err(std::fmt::Error),
        }
    }
}

impl std::fmt::Debug for Unrenderable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[traced_run(kind = "tool")]
fn translate(failure: bool) -> Result<(), Unrenderable> {
    Err(if failure { Unrenderable::Fails } else { Unrenderable::Panics })
}

#[traced_run(kind = "tool", err(Debug))]
async fn translate_later(failure: bool) -> Result<(), Unrenderable> {
    tokio::task::yield_now().await;
    Err(if failure { Unrenderable::Fails } else { Unrenderable::Panics })
}

#[test]
fn err_whose_display_panics_is_returned_and_its_run_gets_an_error_event() {
    let (recorder, callbacks) = recording();

    let returned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| translate(false, &callbacks)));

    assert!(returned.is_ok_and(|result| result == Err(Unrenderable::Panics)), "the call returns its own Err");
    let error = the_error(&recorder);
    assert_eq!(error.message, "<unrenderable: its Display impl panicked>");
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<Unrenderable>()));
}

#[test]
fn err_whose_display_returns_fmt_error_is_returned_and_its_run_gets_an_error_event() {
    let (recorder, callbacks) = recording();

    let returned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| translate(true, &callbacks)));

    assert!(returned.is_ok_and(|result| result == Err(Unrenderable::Fails)), "the call returns its own Err");
    assert_eq!(the_error(&recorder).message, "<unrenderable: its Display impl returned an error>");
}

#[tokio::test]
async fn err_whose_debug_panics_or_fails_under_err_debug_is_returned_in_async_fns() {
    let (recorder, callbacks) = recording();

    assert!(translate_later(false, &callbacks).await == Err(Unrenderable::Panics));
    assert!(translate_later(true, &callbacks).await == Err(Unrenderable::Fails));

    let messages: Vec<String> = crate::common::errors(&recorder).into_iter().map(|(_, error)| error.message).collect();
    assert_eq!(
        messages,
        ["<unrenderable: its Debug impl panicked>", "<unrenderable: its Debug impl returned an error>"]
    );
}

// ---------------------------------------------------------------------------------------------
// A `Result` behind an alias that the macro cannot read as one

/// A crate's own result alias, the common kind whose name is not `Result`.
type ToolResult<T> = Result<T, ToolError>;

#[traced_run(kind = "tool")]
fn by_alias(input: String) -> ToolResult<f64> {
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[traced_run(kind = "tool", err(Debug))]
async fn by_alias_later(input: String) -> ToolResult<f64> {
    tokio::task::yield_now().await;
    input.parse().map_err(|_| ToolError::Parse { input })
}

#[test]
fn an_err_behind_a_result_alias_fails_the_run_and_an_ok_ends_it_with_its_value() {
    let (recorder, callbacks) = recording();

    assert!(by_alias("two".into(), &callbacks).is_err());
    assert_eq!(by_alias("2".into(), &callbacks).ok(), Some(2.0));

    let error = the_error(&recorder);
    assert_eq!((error.message.as_str(), error.cause), ("the calculator cannot parse `two`", ErrorCause::Returned));
    assert_eq!(error.type_name.as_deref(), Some(std::any::type_name::<ToolError>()));
    assert_eq!(crate::common::outputs(&recorder), [serde_json::json!(2.0)], "the Ok value, not {{\"Ok\": 2.0}}");
}

#[tokio::test]
async fn err_debug_renders_the_error_behind_a_result_alias_in_async_fns() {
    let (recorder, callbacks) = recording();

    assert!(by_alias_later("two".into(), &callbacks).await.is_err());

    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);
}

/// A result alias whose `Ok` type is opaque, so the macro cannot name the return type: the
/// compiler is still asked, about the value.
#[traced_run(kind = "tool", err(Debug))]
fn opaque_by_alias(input: String) -> ToolResult<impl serde::Serialize + Send + Sync> {
    input.parse::<f64>().map_err(|_| ToolError::Parse { input })
}

#[test]
fn an_err_behind_a_result_alias_of_an_opaque_type_fails_the_run() {
    let (recorder, callbacks) = recording();

    assert!(opaque_by_alias("two".into(), &callbacks).is_err());
    assert!(opaque_by_alias("2".into(), &callbacks).is_ok());

    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);
    assert_eq!(crate::common::outputs(&recorder), [serde_json::json!(2.0)], "the Ok value");
}

/// A type the bound of a generic names: `F::Output` is a `ToolResult` only through `F`'s
/// bound, which the macro cannot read, so the compiler is asked.
#[traced_run(kind = "tool", skip(parse), err(Debug))]
fn through_a_bound<F: FnOnce() -> ToolResult<f64>>(parse: F) -> F::Output {
    parse()
}

/// The same through a trait's associated type.
trait Tool {
    type Output;
    fn call(&self, input: &str) -> Self::Output;
}

struct Calculator;

impl Tool for Calculator {
    type Output = ToolResult<f64>;
    fn call(&self, input: &str) -> ToolResult<f64> {
        input.parse().map_err(|_| ToolError::Parse { input: input.to_owned() })
    }
}

#[traced_run(kind = "tool", skip(tool), err(Debug))]
fn through_a_trait<U: Tool<Output = ToolResult<f64>>>(tool: &U, input: &str) -> U::Output {
    tool.call(input)
}

#[test]
fn an_err_behind_an_associated_type_fails_the_run() {
    let (recorder, callbacks) = recording();

    let unparsable = || Calculator.call("two");
    assert!(through_a_bound(unparsable, &callbacks).is_err());
    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);

    let (recorder, callbacks) = recording();

    assert!(through_a_trait(&Calculator, "two", &callbacks).is_err());
    assert_eq!(through_a_trait(&Calculator, "2", &callbacks).ok(), Some(2.0));

    assert_eq!(the_error(&recorder).message, r#"Parse { input: "two" }"#);
    assert_eq!(crate::common::outputs(&recorder), [serde_json::json!(2.0)], "the Ok value, not {{\"Ok\": 2.0}}");
}
