//! A call's events as a stream: LangChain's `astream_events`.
//!
//! [`stream_events`] runs a traced call with a handler of its own added to the callbacks it is
//! given, and returns an [`EventStream`] of the call's [`StandardEvent`]s, then its output:
//! what a server sends its client while a request runs, without a channel or a `select!` of
//! its own.
//!
//! ```
//! use futures::StreamExt;
//! use runtrace_runtime::events::{Item, stream_events};
//! use runtrace_runtime::{CallbackManager, RunKind};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! // A server answering one request, as server-sent events.
//! let mut events = stream_events(CallbackManager::none(), |callbacks| async move {
//!     let llm = callbacks.start_run(RunKind::ChatModel, "chat", &"Say hello")?;
//!     llm.on_llm_new_token("Hello")?;
//!     llm.end(&"Hello")?;
//!     Ok::<_, runtrace_runtime::CallbackError>("Hello")
//! });
//! let mut body = String::new();
//! while let Some(item) = events.next().await {
//!     match item {
//!         Item::Event(event) => body += &format!("data: {}\n\n", serde_json::to_string(&event)?),
//!         Item::Output(answer) => body += &format!("event: done\ndata: {}\n\n", answer?),
//!     }
//! }
//! assert!(body.starts_with(r#"data: {"event":"on_chat_model_start","name":"chat""#));
//! assert!(body.ends_with("event: done\ndata: Hello\n\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod collector;
mod event_stream;
mod filter;
mod standard_event;

pub use event_stream::{EventStream, Item, stream_events};
pub use standard_event::StandardEvent;
