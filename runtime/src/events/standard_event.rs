//! [`StandardEvent`]: one event of a streamed call, in the shape of LangChain's
//! `astream_events` v2.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::event::{Metadata, RunId, RunKind, Tags};

/// One event of a call streamed by [`stream_events`](super::stream_events): what LangChain's
/// `astream_events(version="v2")` yields, with the same field names and the same event names.
///
/// `event` is `on_{kind}_{phase}`: `on_chain_start`, `on_chat_model_stream`, `on_tool_end`,
/// `on_llm_error`, ... (the kinds are [`RunKind`]'s names), or `on_custom_event` for a
/// [custom event](crate::RunManager::on_custom_event), whose `name` is the event's own.
/// `data` is a JSON object: `{"input": ..}` at a start, `{"chunk": "token"}` for a streamed
/// token, `{"output": ..}` at an end, `{"error": "message", "cause": "cancelled"}` at an error,
/// and a custom event's data as it was sent.
///
/// It serializes to the JSON a LangChain client reads (plus `kind`), so a server can send it
/// as is.
///
/// ```
/// use futures::StreamExt;
/// use runtrace_runtime::events::{Item, stream_events};
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let mut events = stream_events(CallbackManager::none(), |callbacks| async move {
///     let run = callbacks.start_run(RunKind::ChatModel, "chat", &"Say hi")?;
///     run.on_llm_new_token("Hi")?;
///     run.end(&"Hi")
/// });
/// let Some(Item::Event(start)) = events.next().await else { panic!("a start") };
/// assert_eq!((start.event.as_str(), &*start.name), ("on_chat_model_start", "chat"));
/// assert_eq!(start.data["input"], "Say hi");
/// let Some(Item::Event(token)) = events.next().await else { panic!("a token") };
/// assert_eq!((token.event.as_str(), token.chunk()), ("on_chat_model_stream", Some("Hi")));
/// assert!(token.parent_ids.is_empty()); // the call's root run
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StandardEvent {
    /// `on_{kind}_{start|stream|end|error}`, or `on_custom_event`.
    pub event: String,
    /// The run's name; a custom event's own name.
    pub name: Cow<'static, str>,
    /// The run the event belongs to (for a custom event, the run that sent it).
    pub run_id: RunId,
    /// The ids of the run's ancestors within this call, the call's root first and the run's
    /// parent last; empty for the call's root run.
    pub parent_ids: Vec<RunId>,
    /// The run's kind (not in LangChain's events, whose `event` name alone says it).
    pub kind: RunKind,
    /// The run's tags, as its start carried them.
    pub tags: Tags,
    /// The run's metadata, as its start carried it.
    pub metadata: Metadata,
    /// What happened: `input`, `chunk`, `output` or `error`, as a JSON object.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     callbacks.start_run(RunKind::Tool, "search", &"rust")?.error("the index is offline")
    /// })
    /// .collect()
    /// .await;
    /// let failed = items.iter().filter_map(Item::event).find(|event| event.event == "on_tool_error");
    /// let failed = failed.expect("the tool's error event");
    /// assert_eq!(failed.data, serde_json::json!({"error": "the index is offline", "cause": "returned"}));
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub data: Value,
}

/// The part of the event's name after the kind.
#[derive(Clone, Copy)]
pub(super) enum Phase {
    Start,
    Stream,
    End,
    Error,
}

impl Phase {
    pub(super) fn event_name(self, kind: RunKind) -> String {
        let phase = match self {
            Phase::Start => "start",
            Phase::Stream => "stream",
            Phase::End => "end",
            Phase::Error => "error",
        };
        format!("on_{kind}_{phase}")
    }
}

impl StandardEvent {
    /// The streamed token of an `on_*_stream` event; `None` for any other event.
    ///
    /// ```
    /// # use futures::StreamExt;
    /// # use runtrace_runtime::events::{Item, stream_events};
    /// # use runtrace_runtime::{CallbackManager, RunKind};
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let events = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    ///     run.on_llm_new_token("Hel")?;
    ///     run.on_llm_new_token("lo")?;
    ///     run.end(&"Hello")
    /// });
    /// let tokens: Vec<String> = events
    ///     .filter_map(|item| async move { item.event()?.chunk().map(str::to_owned) })
    ///     .collect()
    ///     .await;
    /// assert_eq!(tokens, ["Hel", "lo"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn chunk(&self) -> Option<&str> {
        self.data.get("chunk").and_then(Value::as_str)
    }
}
