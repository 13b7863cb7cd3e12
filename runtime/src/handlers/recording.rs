//! [`RecordingHandler`]: keeps every event, for tests and small tools.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::event::{Event, EventData, EventType, RunInfo};
use crate::handler::{CallbackHandler, HandlerResult, Ignore};

/// Keeps an owned copy of every event it hears, in order: the handler to assert on in your
/// own tests.
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::event::EventType;
/// use runtrace_runtime::handlers::RecordingHandler;
///
/// let recorder = Arc::new(RecordingHandler::new());
/// let callbacks = CallbackManager::new().with_handler(recorder.clone());
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///
/// assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
/// assert_eq!(recorder.runs()[0].name, "calculator");
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Debug, Default)]
pub struct RecordingHandler {
    events: Mutex<Vec<Event<'static>>>,
    ignore: Ignore,
}

impl RecordingHandler {
    /// A recorder that hears everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Ignores the events in `ignore`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::{Ignore, RecordingHandler};
    ///
    /// let recorder = Arc::new(RecordingHandler::new().with_ignore(Ignore::LLM | Ignore::TOOL));
    /// let chain = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2 is 4. Answer:")?.end(&"4")?;
    /// chain.end(&"4")?;
    ///
    /// let names: Vec<_> = recorder.runs().iter().map(|run| run.name.to_string()).collect();
    /// assert_eq!(names, ["answer"], "the tool and llm runs go unheard");
    /// assert_eq!(recorder.len(), 2, "the chain's start and end");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn with_ignore(mut self, ignore: Ignore) -> Self {
        self.ignore = ignore;
        self
    }

    /// A copy of the events so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// let events = recorder.events();
    /// assert_eq!(events.len(), 2);
    /// assert_eq!(events[0].run.name, "calculator");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn events(&self) -> Vec<Event<'static>> {
        self.lock().clone()
    }

    /// The events so far, leaving the recorder empty.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// assert_eq!(recorder.take().len(), 2);
    /// assert!(recorder.is_empty());
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn take(&self) -> Vec<Event<'static>> {
        std::mem::take(&mut *self.lock())
    }

    /// The type of each event so far.
    #[must_use]
    pub fn event_types(&self) -> Vec<EventType> {
        self.lock().iter().map(Event::event_type).collect()
    }

    /// The runs that started, in start order.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// let callbacks = CallbackManager::new().with_handler(recorder.clone());
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// chain.end(&"4")?;
    /// let names: Vec<_> = recorder.runs().iter().map(|run| run.name.to_string()).collect();
    /// assert_eq!(names, ["answer", "calculator"]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn runs(&self) -> Vec<RunInfo> {
        self.lock()
            .iter()
            .filter(|event| matches!(event.data, EventData::Start(_)))
            .map(|event| event.run.clone().into_owned())
            .collect()
    }

    /// How many events were recorded.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::RecordingHandler;
    ///
    /// let recorder = Arc::new(RecordingHandler::new());
    /// assert!(recorder.is_empty());
    /// let llm = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// llm.on_llm_new_token("Hel")?;
    /// llm.on_llm_new_token("lo")?;
    /// llm.end(&"Hello")?;
    /// assert_eq!(recorder.len(), 4, "start, two tokens, end");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event<'static>>> {
        // A poisoned recorder still holds every event pushed before the panic.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CallbackHandler for RecordingHandler {
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let event = event.to_static();
        self.lock().push(event);
        Ok(())
    }

    fn ignore(&self) -> Ignore {
        self.ignore
    }
}
