//! [`ChannelHandler`]: forwards one request's streamed tokens into a `tokio::sync::mpsc`
//! channel, the way to stream them to that request's client.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Sender, UnboundedSender};

use crate::dispatch::report;
use crate::event::{Event, RunEnd, RunError, RunId, RunInfo, RunKind, RunStart};
use crate::handler::{CallbackHandler, HandlerResult, Ignore};

/// What a [`ChannelHandler`] sends: a streamed token or, when asked for, a run's start, end
/// or error, each tagged with the run it belongs to.
///
/// Runs of one request may stream side by side (two models called with `join!`, say); their
/// tokens then interleave in the channel, and [`run_id`](Self::run_id) tells them apart.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{ChannelHandler, StreamEvent};
///
/// let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
/// let callbacks = CallbackManager::new().with_handler(ChannelHandler::unbounded(sender));
/// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"Say hello")?;
/// run.on_llm_new_token("Hel")?;
///
/// match receiver.try_recv() {
///     Ok(StreamEvent::Token { run: info, token }) => {
///         assert_eq!((info.kind, &*info.name, &*token), (RunKind::Llm, "fake_llm", "Hel"));
///         assert_eq!(Some(info.run_id), run.run_id());
///     }
///     other => panic!("expected a token, got {other:?}"),
/// }
/// # run.end(&"Hello")?;
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A run started; sent only [`with_run_markers`](ChannelHandler::with_run_markers).
    Start {
        /// The run.
        run: RunInfo,
    },
    /// A model streamed a token.
    Token {
        /// The run that streamed it.
        run: RunInfo,
        /// The token.
        token: String,
    },
    /// A run ended with an output; sent only [`with_run_markers`](ChannelHandler::with_run_markers).
    End {
        /// The run.
        run: RunInfo,
    },
    /// A run failed, was cancelled or was stopped; sent only
    /// [`with_run_markers`](ChannelHandler::with_run_markers).
    Error {
        /// The run.
        run: RunInfo,
        /// How it failed.
        error: RunError,
    },
}

impl StreamEvent {
    /// The run the event belongs to.
    ///
    /// ```
    /// # use runtrace_runtime::{CallbackManager, RunKind};
    /// # use runtrace_runtime::handlers::ChannelHandler;
    /// # let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    /// # let callbacks = CallbackManager::new().with_handler(ChannelHandler::unbounded(sender));
    /// # let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// let event = receiver.try_recv().expect("a token");
    /// assert_eq!(event.run().name, "fake_llm");
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn run(&self) -> &RunInfo {
        match self {
            StreamEvent::Start { run }
            | StreamEvent::Token { run, .. }
            | StreamEvent::End { run }
            | StreamEvent::Error { run, .. } => run,
        }
    }

    /// The id of the run the event belongs to.
    ///
    /// ```
    /// # use runtrace_runtime::{CallbackManager, RunKind};
    /// # use runtrace_runtime::handlers::ChannelHandler;
    /// # let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    /// # let callbacks = CallbackManager::new().with_handler(ChannelHandler::unbounded(sender));
    /// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// assert_eq!(Some(receiver.try_recv().expect("a token").run_id()), run.run_id());
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.run().run_id
    }

    /// The kind of the run the event belongs to.
    ///
    /// ```
    /// # use runtrace_runtime::{CallbackManager, RunKind};
    /// # use runtrace_runtime::handlers::ChannelHandler;
    /// # let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    /// # let callbacks = CallbackManager::new().with_handler(ChannelHandler::unbounded(sender));
    /// let run = callbacks.start_run(RunKind::ChatModel, "chat", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// assert_eq!(receiver.try_recv().expect("a token").kind(), RunKind::ChatModel);
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> RunKind {
        self.run().kind
    }
}

/// Forwards the tokens streamed by the runs it hears (and, optionally, their start, end and
/// error markers) into a `tokio::sync::mpsc` channel, as [`StreamEvent`]s.
///
/// Give one to the request callbacks of a server request, and every model nested in that
/// request streams into the channel whose receiver feeds the request's response (a
/// websocket, Server-Sent Events), while the other requests stream into their own.
///
/// It is a sync handler: it sends inline, and never waits.
/// - **Bounded channel, full:** the event is dropped and counted in
///   [`dropped`](Self::dropped), with a warning at the 1st, 2nd, 4th, 8th, ... drop. The
///   traced call never blocks on a slow reader; size the channel for the bursts you expect,
///   or use an unbounded channel when every token must arrive.
/// - **Receiver gone** (the client disconnected): events are discarded quietly. The run is
///   not disturbed and nothing is reported; cancelling the run is the caller's business (in
///   a server, dropping the request's future does it).
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::{ChannelHandler, StreamEvent};
///
/// let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
/// let callbacks = CallbackManager::new().with_handler(ChannelHandler::bounded(sender));
///
/// let chain = callbacks.start_run(RunKind::Chain, "answer", &"Say hello")?;
/// let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"Say hello")?; // a child: it streams too
/// for token in ["Hel", "lo"] {
///     llm.on_llm_new_token(token)?;
/// }
/// llm.end(&"Hello")?;
/// chain.end(&"Hello")?;
/// drop(callbacks); // the last sender: the stream ends
///
/// let mut tokens = Vec::new();
/// while let Some(event) = receiver.blocking_recv() {
///     if let StreamEvent::Token { token, .. } = event {
///         tokens.push(token);
///     }
/// }
/// assert_eq!(tokens, ["Hel", "lo"]);
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Debug)]
pub struct ChannelHandler {
    sender: StreamSender,
    markers: bool,
    ignore: Ignore,
    dropped: AtomicU64,
}

#[derive(Debug)]
enum StreamSender {
    Bounded(Sender<StreamEvent>),
    Unbounded(UnboundedSender<StreamEvent>),
}

impl ChannelHandler {
    /// Sends into a bounded channel with `try_send`: when it is full, the event is dropped
    /// and counted, never waited for.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::ChannelHandler;
    ///
    /// let (sender, _receiver) = tokio::sync::mpsc::channel(1);
    /// let channel = Arc::new(ChannelHandler::bounded(sender));
    /// let callbacks = CallbackManager::new().with_handler(channel.clone());
    /// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hel")?;
    /// run.on_llm_new_token("lo")?; // no room: dropped, and the run goes on
    /// assert_eq!(channel.dropped(), 1);
    /// # run.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn bounded(sender: Sender<StreamEvent>) -> Self {
        ChannelHandler::with_sender(StreamSender::Bounded(sender))
    }

    /// Sends into an unbounded channel: nothing is dropped while the receiver lives, and
    /// memory grows with what the reader has not read yet.
    ///
    /// ```
    /// let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    /// let channel = runtrace_runtime::handlers::ChannelHandler::unbounded(sender);
    /// ```
    #[must_use]
    pub fn unbounded(sender: UnboundedSender<StreamEvent>) -> Self {
        ChannelHandler::with_sender(StreamSender::Unbounded(sender))
    }

    fn with_sender(sender: StreamSender) -> Self {
        ChannelHandler { sender, markers: false, ignore: Ignore::NONE, dropped: AtomicU64::new(0) }
    }

    /// Also sends each run's [`Start`](StreamEvent::Start) and its
    /// [`End`](StreamEvent::End) or [`Error`](StreamEvent::Error), so the reader can tell
    /// where each run's tokens begin and end.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::{ChannelHandler, StreamEvent};
    ///
    /// let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    /// let channel = ChannelHandler::unbounded(sender).with_run_markers();
    /// let callbacks = CallbackManager::new().with_handler(channel);
    /// let run = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// run.on_llm_new_token("Hello")?;
    /// run.end(&"Hello")?;
    ///
    /// assert!(matches!(receiver.try_recv(), Ok(StreamEvent::Start { .. })));
    /// assert!(matches!(receiver.try_recv(), Ok(StreamEvent::Token { .. })));
    /// assert!(matches!(receiver.try_recv(), Ok(StreamEvent::End { .. })));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_run_markers(mut self) -> Self {
        self.markers = true;
        self
    }

    /// Hears no event of the runs in `ignore`: with markers on,
    /// `.with_ignore(Ignore::NON_MODEL_RUNS)` leaves the markers of model runs only.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::{ChannelHandler, Ignore, StreamEvent};
    ///
    /// let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    /// let channel = ChannelHandler::unbounded(sender).with_run_markers().with_ignore(Ignore::NON_MODEL_RUNS);
    /// let chain = CallbackManager::new().with_handler(channel).start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?;
    /// llm.on_llm_new_token("4")?;
    /// llm.end(&"4")?;
    /// chain.end(&"4")?;
    ///
    /// let mut heard = Vec::new();
    /// while let Ok(event) = receiver.try_recv() {
    ///     heard.push(event);
    /// }
    /// assert!(heard.iter().all(|event| event.kind() == RunKind::Llm));
    /// assert!(matches!(heard[..], [StreamEvent::Start { .. }, StreamEvent::Token { .. }, StreamEvent::End { .. }]));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_ignore(mut self, ignore: Ignore) -> Self {
        self.ignore = ignore;
        self
    }

    /// How many events were dropped because the bounded channel was full.
    ///
    /// ```
    /// let (sender, _receiver) = tokio::sync::mpsc::channel(8);
    /// assert_eq!(runtrace_runtime::handlers::ChannelHandler::bounded(sender).dropped(), 0);
    /// ```
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the receiver is gone, so events are discarded.
    ///
    /// ```
    /// let (sender, receiver) = tokio::sync::mpsc::channel(8);
    /// let channel = runtrace_runtime::handlers::ChannelHandler::bounded(sender);
    /// drop(receiver);
    /// assert!(channel.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        match &self.sender {
            StreamSender::Bounded(sender) => sender.is_closed(),
            StreamSender::Unbounded(sender) => sender.is_closed(),
        }
    }

    /// Sends the event `make` builds, built only if the receiver is still there.
    fn forward(&self, make: impl FnOnce() -> StreamEvent) {
        if self.is_closed() {
            // The reader left (a client disconnected): not a fault of the run, nothing to report.
            return;
        }
        match &self.sender {
            StreamSender::Bounded(sender) => match sender.try_send(make()) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(event)) => self.count_drop(&event),
            },
            StreamSender::Unbounded(sender) => {
                let _ = sender.send(make());
            }
        }
    }

    #[cold]
    fn count_drop(&self, event: &StreamEvent) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // Warn on a log scale: a reader that stays behind gets a handful of lines, not one per token.
        if dropped.is_power_of_two() {
            let run = event.run();
            report::warn_once(
                "channel handler full",
                &format_args!(
                    "channel handler: the channel is full, so streamed events are dropped ({dropped} so far, the \
                     last of run `{}` {})",
                    run.name, run.run_id
                ),
            );
            tracing::warn!(
                target: "runtrace",
                dropped,
                run = %run.name,
                run_id = %run.run_id,
                "channel handler: the channel is full, so streamed events are dropped"
            );
        }
    }
}

impl CallbackHandler for ChannelHandler {
    fn on_run_start(&self, event: &Event<'_>, _start: &RunStart<'_>) -> HandlerResult {
        if self.markers {
            self.forward(|| StreamEvent::Start { run: event.run.as_ref().clone() });
        }
        Ok(())
    }

    fn on_run_end(&self, event: &Event<'_>, _end: &RunEnd<'_>) -> HandlerResult {
        if self.markers {
            self.forward(|| StreamEvent::End { run: event.run.as_ref().clone() });
        }
        Ok(())
    }

    fn on_run_error(&self, event: &Event<'_>, error: &RunError) -> HandlerResult {
        if self.markers {
            self.forward(|| StreamEvent::Error { run: event.run.as_ref().clone(), error: error.clone() });
        }
        Ok(())
    }

    fn on_llm_new_token(&self, event: &Event<'_>, token: &str) -> HandlerResult {
        self.forward(|| StreamEvent::Token { run: event.run.as_ref().clone(), token: token.to_owned() });
        Ok(())
    }

    fn ignore(&self) -> Ignore {
        self.ignore
    }

    fn name(&self) -> &'static str {
        "ChannelHandler"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::{ChannelHandler, StreamEvent};
    use crate::event::ErrorCause;
    use crate::handler::Ignore;
    use crate::{CallbackError, CallbackManager, RunKind};

    #[test]
    fn forwards_only_tokens_by_default() -> Result<(), CallbackError> {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let callbacks = CallbackManager::new().with_handler(ChannelHandler::unbounded(sender));
        let chain = callbacks.start_run(RunKind::Chain, "answer", &"hi")?;
        chain.on_text("thinking")?;
        let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"hi")?;
        llm.on_llm_new_token("Hel")?;
        llm.on_llm_new_token("lo")?;
        let llm_id = llm.run_id();
        llm.end(&"Hello")?;
        chain.end(&"Hello")?;
        drop(callbacks);

        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
        let tokens: Vec<_> = events
            .iter()
            .map(|event| match event {
                StreamEvent::Token { run, token } => (Some(run.run_id), run.kind, token.as_str()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tokens, [(llm_id, RunKind::Llm, "Hel"), (llm_id, RunKind::Llm, "lo")]);
        Ok(())
    }

    #[test]
    fn markers_frame_each_run_and_carry_its_error() -> Result<(), CallbackError> {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let channel = ChannelHandler::unbounded(sender).with_run_markers().with_ignore(Ignore::CHAIN);
        let callbacks = CallbackManager::new().with_handler(channel);
        let chain = callbacks.start_run(RunKind::Chain, "answer", &"hi")?;
        let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"hi")?;
        llm.on_llm_new_token("Hel")?;
        drop(llm); // a dropped future: cancelled
        chain.end(&"")?;

        let kinds: Vec<&str> = std::iter::from_fn(|| receiver.try_recv().ok())
            .map(|event| match event {
                StreamEvent::Start { run } if run.kind == RunKind::Llm => "start",
                StreamEvent::Token { .. } => "token",
                StreamEvent::Error { error, .. } if error.cause == ErrorCause::Cancelled => "cancelled",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["start", "token", "cancelled"]);
        Ok(())
    }

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() -> Result<(), CallbackError> {
        let (sender, mut receiver) = mpsc::channel(2);
        let channel = Arc::new(ChannelHandler::bounded(sender));
        let callbacks = CallbackManager::new().with_handler(channel.clone());
        let llm = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
        for token in ["a", "b", "c", "d", "e"] {
            llm.on_llm_new_token(token)?;
        }
        llm.end(&"abcde")?;

        assert_eq!(channel.dropped(), 3);
        let kept: Vec<String> = std::iter::from_fn(|| match receiver.try_recv() {
            Ok(StreamEvent::Token { token, .. }) => Some(token),
            _ => None,
        })
        .collect();
        assert_eq!(kept, ["a", "b"]);
        Ok(())
    }

    #[test]
    fn a_closed_receiver_leaves_the_run_undisturbed_and_counts_nothing() -> Result<(), CallbackError> {
        let (bounded, receiver) = mpsc::channel(1);
        drop(receiver);
        let (unbounded, receiver) = mpsc::unbounded_channel();
        drop(receiver);
        let bounded = Arc::new(ChannelHandler::bounded(bounded).with_run_markers());
        let unbounded = Arc::new(ChannelHandler::unbounded(unbounded).with_run_markers());
        let callbacks = CallbackManager::new().with_handler(bounded.clone()).with_handler(unbounded.clone());

        let llm = callbacks.start_run(RunKind::Llm, "fake_llm", &"hi")?;
        for _ in 0..100 {
            llm.on_llm_new_token("tok")?;
        }
        llm.end(&"done")?;
        assert!(bounded.is_closed() && unbounded.is_closed());
        assert_eq!((bounded.dropped(), unbounded.dropped()), (0, 0));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_request_streams_into_its_own_channel() {
        let tasks: Vec<_> = (0..32)
            .map(|request| {
                tokio::spawn(async move {
                    let (sender, mut receiver) = mpsc::channel(64);
                    let callbacks = CallbackManager::new().with_handler(ChannelHandler::bounded(sender));
                    let llm = callbacks.start_run(RunKind::Llm, format!("llm-{request}"), &request)?;
                    for token in 0..20 {
                        llm.on_llm_new_token(&format!("{request}:{token}"))?;
                        tokio::task::yield_now().await;
                    }
                    llm.end(&())?;
                    drop(callbacks);
                    let mut tokens = Vec::new();
                    while let Some(event) = receiver.recv().await {
                        assert_eq!(event.run().name, format!("llm-{request}"));
                        if let StreamEvent::Token { token, .. } = event {
                            tokens.push(token);
                        }
                    }
                    let expected: Vec<String> = (0..20).map(|token| format!("{request}:{token}")).collect();
                    assert_eq!(tokens, expected);
                    Ok::<(), CallbackError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the request task panicked").expect("a handler failed");
        }
    }
}
