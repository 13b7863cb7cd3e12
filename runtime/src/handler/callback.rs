//! [`CallbackHandler`]: a handler called inline, on the thread that emits the event.

use std::any::Any;

use super::error::HandlerResult;
use super::ignore::Ignore;
use crate::event::{
    AgentAction, AgentFinish, CustomEvent, Event, Metadata, Retry, RunEnd, RunError, RunId, RunStart, Usage,
};

/// A handler called inline, on the thread that emits the event.
///
/// Every method has a default that passes the event on to [`on_event`](Self::on_event), whose
/// own default does nothing: override `on_event` to see everything, or only the methods you
/// need. A handler that returns `Err` or panics is reported (a `tracing` warning of target
/// `runtrace` naming the handler and the event; with no subscriber taking it, one line per
/// handler on standard error) and the run goes on, unless [`raise_error`](Self::raise_error)
/// says the failure should stop the run.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use runtrace_runtime::handlers::HandlerResult;
/// use runtrace_runtime::{CallbackHandler, Event};
///
/// #[derive(Default)]
/// struct TokenCounter(AtomicUsize);
///
/// impl CallbackHandler for TokenCounter {
///     fn on_llm_new_token(&self, _event: &Event<'_>, _token: &str) -> HandlerResult {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
pub trait CallbackHandler: Any + Send + Sync {
    /// A run started.
    fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
        let _ = start;
        self.on_event(event)
    }

    /// A run ended with an output.
    fn on_run_end(&self, event: &Event<'_>, end: &RunEnd<'_>) -> HandlerResult {
        let _ = end;
        self.on_event(event)
    }

    /// A run failed.
    fn on_run_error(&self, event: &Event<'_>, error: &RunError) -> HandlerResult {
        let _ = error;
        self.on_event(event)
    }

    /// A model streamed a token.
    fn on_llm_new_token(&self, event: &Event<'_>, token: &str) -> HandlerResult {
        let _ = token;
        self.on_event(event)
    }

    /// A run emitted free text.
    fn on_text(&self, event: &Event<'_>, text: &str) -> HandlerResult {
        let _ = text;
        self.on_event(event)
    }

    /// A run retries.
    fn on_retry(&self, event: &Event<'_>, retry: &Retry) -> HandlerResult {
        let _ = retry;
        self.on_event(event)
    }

    /// An agent decided to call a tool.
    fn on_agent_action(&self, event: &Event<'_>, action: &AgentAction) -> HandlerResult {
        let _ = action;
        self.on_event(event)
    }

    /// An agent finished.
    fn on_agent_finish(&self, event: &Event<'_>, finish: &AgentFinish) -> HandlerResult {
        let _ = finish;
        self.on_event(event)
    }

    /// A user-defined event.
    fn on_custom_event(&self, event: &Event<'_>, custom: &CustomEvent) -> HandlerResult {
        let _ = custom;
        self.on_event(event)
    }

    /// A model run reported its usage so far (each report replaces the previous one).
    fn on_usage(&self, event: &Event<'_>, usage: &Usage) -> HandlerResult {
        let _ = usage;
        self.on_event(event)
    }

    /// A run added metadata while it ran.
    fn on_metadata(&self, event: &Event<'_>, metadata: &Metadata) -> HandlerResult {
        let _ = metadata;
        self.on_event(event)
    }

    /// Every event the methods above do not handle themselves.
    fn on_event(&self, event: &Event<'_>) -> HandlerResult {
        let _ = event;
        Ok(())
    }

    /// The events this handler never wants; read once, when it is added to a manager.
    fn ignore(&self) -> Ignore {
        Ignore::NONE
    }

    /// Whether a failure of this handler stops the run with a
    /// [`CallbackError`](crate::CallbackError) instead of being reported. Read once, when
    /// the handler is added to a manager.
    fn raise_error(&self) -> bool {
        false
    }

    /// Whether this handler still holds a run with id `run_id`, so that a run started with
    /// that id would be mistaken for it. Asked only before a run starts with a
    /// [caller-chosen id](crate::CallbackManager::with_run_id); a handler that keeps runs by
    /// id (as the [`Tracer`](crate::tracer::Tracer) does until it exports their tree) says
    /// yes for those, and the start fails with [`CallbackError::RunIdInUse`](crate::CallbackError::RunIdInUse).
    ///
    /// ```
    /// use std::collections::HashSet;
    /// use std::sync::Mutex;
    /// use runtrace_runtime::{CallbackHandler, Event, EventData, RunId};
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// #[derive(Default)]
    /// struct OpenRuns(Mutex<HashSet<RunId>>);
    ///
    /// impl CallbackHandler for OpenRuns {
    ///     fn on_event(&self, event: &Event<'_>) -> HandlerResult {
    ///         let mut open = self.0.lock().map_err(|_| "poisoned")?;
    ///         match event.data {
    ///             EventData::Start(_) => open.insert(event.run.run_id),
    ///             EventData::End(_) | EventData::Error(_) => open.remove(&event.run.run_id),
    ///             _ => false,
    ///         };
    ///         Ok(())
    ///     }
    ///
    ///     fn holds_run(&self, run_id: RunId) -> bool {
    ///         self.0.lock().is_ok_and(|open| open.contains(&run_id))
    ///     }
    /// }
    /// ```
    fn holds_run(&self, run_id: RunId) -> bool {
        let _ = run_id;
        false
    }

    /// The name used in fault reports.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}
