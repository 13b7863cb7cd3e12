//! [`EventStream`]: a call that runs as it is read, yielding its events and then its output.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use tokio::sync::mpsc::{self, UnboundedReceiver};

use super::collector::Collector;
use super::filter::Filter;
use super::standard_event::StandardEvent;
use crate::event::{RunId, RunKind};
use crate::run::CallbackManager;

/// What an [`EventStream`] yields: the call's events, then its output, once.
///
/// ```
/// use futures::StreamExt;
/// use runtrace_runtime::events::{Item, stream_events};
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
///     callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///     Ok::<_, runtrace_runtime::CallbackError>(4)
/// })
/// .collect()
/// .await;
/// assert_eq!(items.iter().filter_map(Item::event).count(), 2); // on_tool_start, on_tool_end
/// assert!(matches!(items.last(), Some(Item::Output(Ok(4)))));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Item<T> {
    /// An event of a run of the call.
    Event(StandardEvent),
    /// What the call returned; always the last item, after every event of the call.
    Output(T),
}

impl<T> Item<T> {
    /// The event, if this is one.
    ///
    /// ```
    /// use runtrace_runtime::events::Item;
    /// assert!(Item::Output(4).event().is_none());
    /// ```
    #[must_use]
    pub fn event(&self) -> Option<&StandardEvent> {
        match self {
            Item::Event(event) => Some(event),
            Item::Output(_) => None,
        }
    }

    /// The output, if this is it.
    ///
    /// ```
    /// use runtrace_runtime::events::Item;
    /// assert_eq!(Item::Output(4).into_output(), Some(4));
    /// ```
    #[must_use]
    pub fn into_output(self) -> Option<T> {
        match self {
            Item::Event(_) => None,
            Item::Output(output) => Some(output),
        }
    }
}

type Call<T> = Pin<Box<dyn Future<Output = T> + Send>>;

enum State<T> {
    /// The call runs each time the stream is polled.
    Running(Call<T>),
    /// The call returned (or panicked): its events are still being read.
    Draining(Result<T, Box<dyn Any + Send>>),
    Ended,
}

/// A traced call that runs as it is read: it yields the call's [events](StandardEvent),
/// then its [output](Item::Output). Made by [`stream_events`]; the `with_*` builders choose
/// which events it lets through.
///
/// - Dropping it drops the call: every run still open ends with a cancelled error event.
/// - The events are this call's own: they come from a handler added to this call's
///   callbacks only, never from another call sharing the same handlers.
/// - Events arrive in the order the call emitted them, and the output after all of them.
/// - A call that panics has its runs end with their error events; the stream yields those,
///   then resumes the panic in the code that polls it, as awaiting the call would. Polled
///   after its end (or after that panic), it yields `None`.
///
/// ```
/// use futures::StreamExt;
/// use runtrace_runtime::events::{Item, stream_events};
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let events = stream_events(CallbackManager::none(), |callbacks| async move {
///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"Say hello")?;
///     let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
///     llm.on_llm_new_token("Hel")?;
///     llm.on_llm_new_token("lo")?;
///     llm.end(&"Hello")?;
///     chain.end(&"Hello")?;
///     Ok::<_, runtrace_runtime::CallbackError>("Hello")
/// })
/// .with_include_kinds([RunKind::Llm]);
///
/// let items: Vec<_> = events.collect().await;
/// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
/// assert_eq!(names, ["on_llm_start", "on_llm_stream", "on_llm_stream", "on_llm_end"]);
/// assert!(matches!(items.last(), Some(Item::Output(Ok("Hello")))));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a stream does nothing unless polled: the call runs as it is read"]
pub struct EventStream<T> {
    state: State<T>,
    events: UnboundedReceiver<StandardEvent>,
    filter: Filter,
    root: Arc<OnceLock<RunId>>,
}

// Nothing in the stream is pinned structurally: the call is boxed, and the output is only
// ever moved, never pinned.
impl<T> Unpin for EventStream<T> {}

/// Runs `call` with `callbacks` and a handler of its own added to them, as a stream of the
/// call's events then its output: LangChain's `astream_events`.
///
/// `call` receives the callbacks to pass to the traced function (a root run then starts
/// under them); it runs only as the stream is polled, and stops when the stream is dropped.
/// Where this differs from LangChain's `astream_events(version="v2")`, and why:
/// - Errors are events (`on_chain_error`, ... with `data.error` and `data.cause`), because a
///   server streaming a call wants to tell its client which run failed, and a cancelled call
///   still reports its runs as cancelled; the call's own `Err`, if any, is in its output.
/// - The output is the last item, [`Item::Output`], so the caller gets the typed value
///   without a second call.
/// - Events carry `kind` as well as `event`, so a filter or a client can match a kind
///   without parsing names.
/// - Only what LangChain's v2 streams is streamed: starts, tokens, ends, errors and custom
///   events; text, retries, agent steps, usage and metadata go to handlers only.
///
/// ```
/// use futures::StreamExt;
/// use runtrace_runtime::events::{Item, stream_events};
/// use runtrace_runtime::{CallbackManager, RunKind};
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let callbacks = CallbackManager::new().with_tags(["request-7"]);
/// let mut events = stream_events(&callbacks, |callbacks| async move {
///     let run = callbacks.start_run(RunKind::Tool, "calculator", &"2 + 2")?;
///     run.end(&4)?;
///     Ok::<_, runtrace_runtime::CallbackError>(4)
/// });
/// while let Some(item) = events.next().await {
///     match item {
///         Item::Event(event) => println!("{} {} {:?}", event.event, event.name, event.tags),
///         Item::Output(answer) => assert_eq!(answer?, 4),
///     }
/// }
/// assert!(events.root_run_id().is_some());
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stream_events<F, Fut>(callbacks: &CallbackManager, call: F) -> EventStream<Fut::Output>
where
    F: FnOnce(CallbackManager) -> Fut,
    Fut: Future + Send + 'static,
{
    let (sender, events) = mpsc::unbounded_channel();
    let root = Arc::new(OnceLock::new());
    let collector = Collector::new(sender, Arc::clone(&root));
    let callbacks = callbacks.clone().with_handler(collector);
    EventStream { state: State::Running(Box::pin(call(callbacks))), events, filter: Filter::default(), root }
}

fn names(names: impl IntoIterator<Item = impl Into<String>>) -> impl Iterator<Item = String> {
    names.into_iter().map(Into::into)
}

impl<T> EventStream<T> {
    /// Lets through the events of runs of these kinds (and those other `include_*` admit).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    ///     chain.end(&"4")
    /// })
    /// .with_include_kinds([RunKind::Llm, RunKind::ChatModel])
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_llm_start", "on_llm_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_include_kinds(mut self, kinds: impl IntoIterator<Item = RunKind>) -> Self {
        self.filter.include_kinds.get_or_insert_default().extend(kinds);
        self
    }

    /// Lets through the events of runs of these names (and those other `include_*` admit).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    ///     chain.end(&"4")
    /// })
    /// .with_include_names(["calculator"])
    /// .with_include_kinds([RunKind::Llm]) // a run either one admits is let through
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_tool_start", "on_tool_end", "on_llm_start", "on_llm_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_include_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.filter.include_names.get_or_insert_default().extend(self::names(names));
        self
    }

    /// Lets through the events of runs with any of these tags (and those other `include_*` admit).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.get_child("math").start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    ///     chain.end(&"4")
    /// })
    /// .with_include_tags(["math"])
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_tool_start", "on_tool_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_include_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.filter.include_tags.get_or_insert_default().extend(names(tags));
        self
    }

    /// Holds back the events of runs of these kinds.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.end(&"4")
    /// })
    /// .with_exclude_kinds([RunKind::Chain])
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_tool_start", "on_tool_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_exclude_kinds(mut self, kinds: impl IntoIterator<Item = RunKind>) -> Self {
        self.filter.exclude_kinds.extend(kinds);
        self
    }

    /// Holds back the events of runs of these names.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    ///     chain.end(&"4")
    /// })
    /// .with_exclude_names(["calculator"])
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_chain_start", "on_llm_start", "on_llm_end", "on_chain_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_exclude_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.filter.exclude_names.extend(self::names(names));
        self
    }

    /// Holds back the events of runs with any of these tags.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::events::{Item, stream_events};
    /// use runtrace_runtime::{CallbackManager, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let items: Vec<_> = stream_events(CallbackManager::none(), |callbacks| async move {
    ///     let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    ///     chain.get_child("internal").start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    ///     chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    ///     chain.end(&"4")
    /// })
    /// .with_exclude_tags(["internal"])
    /// .collect()
    /// .await;
    /// let names: Vec<&str> = items.iter().filter_map(Item::event).map(|event| event.event.as_str()).collect();
    /// assert_eq!(names, ["on_chain_start", "on_llm_start", "on_llm_end", "on_chain_end"]);
    /// # });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_exclude_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.filter.exclude_tags.extend(names(tags));
        self
    }

    /// The id of the call's root run (the first run it started under the callbacks it was
    /// given), once that run started, whether or not the filters let its events through;
    /// `None` before, or if the call started no run.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use runtrace_runtime::{CallbackManager, RunId, RunKind};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let id = RunId::random();
    /// let callbacks = CallbackManager::new().with_run_id(id);
    /// let mut events = runtrace_runtime::events::stream_events(&callbacks, |callbacks| async move {
    ///     callbacks.start_run(RunKind::Chain, "answer", &"hi")?.end(&"hello")
    /// });
    /// while events.next().await.is_some() {}
    /// assert_eq!(events.root_run_id(), Some(id));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn root_run_id(&self) -> Option<RunId> {
        self.root.get().copied()
    }

    /// The next queued event the filters admit, without waiting.
    fn queued(&mut self, cx: &mut Context<'_>) -> Poll<Option<StandardEvent>> {
        loop {
            match self.events.poll_recv(cx) {
                Poll::Ready(Some(event)) if self.filter.admits(&event) => return Poll::Ready(Some(event)),
                Poll::Ready(Some(_)) => {}
                other => return other,
            }
        }
    }
}

impl<T> Stream for EventStream<T> {
    type Item = Item<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item<T>>> {
        let this = self.get_mut();
        loop {
            // Events first: whatever the call emitted before it returned comes out before
            // its output.
            if let Poll::Ready(Some(event)) = this.queued(cx) {
                return Poll::Ready(Some(Item::Event(event)));
            }
            match std::mem::replace(&mut this.state, State::Ended) {
                State::Running(mut call) => match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => {
                        this.state = State::Running(call);
                        // What the call emitted before it paused is ready now.
                        return match this.queued(cx) {
                            Poll::Ready(Some(event)) => Poll::Ready(Some(Item::Event(event))),
                            _ => Poll::Pending,
                        };
                    }
                    // Dropping the call here drops its callbacks, and with them the
                    // collector's sender, unless the call gave a clone away.
                    Ok(Poll::Ready(output)) => this.state = State::Draining(Ok(output)),
                    Err(panic) => this.state = State::Draining(Err(panic)),
                },
                State::Draining(outcome) => {
                    // The call is over, so every event it emitted is queued; what comes
                    // later was sent by runs it left behind, and is not waited for.
                    if let Ok(event) = this.events.try_recv() {
                        this.state = State::Draining(outcome);
                        if this.filter.admits(&event) {
                            return Poll::Ready(Some(Item::Event(event)));
                        }
                        continue;
                    }
                    return match outcome {
                        Ok(output) => Poll::Ready(Some(Item::Output(output))),
                        Err(panic) => resume_unwind(panic),
                    };
                }
                State::Ended => return Poll::Ready(None),
            }
        }
    }
}

impl<T> FusedStream for EventStream<T> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Ended)
    }
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Running(_) => "running",
            State::Draining(_) => "draining",
            State::Ended => "ended",
        };
        f.debug_struct("EventStream").field("state", &state).field("root_run_id", &self.root_run_id()).finish()
    }
}
