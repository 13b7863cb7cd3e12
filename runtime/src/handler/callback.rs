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
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::event::RunStart;
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// /// Remembers what each tool was asked.
    /// #[derive(Default)]
    /// struct ToolInputs(Mutex<Vec<String>>);
    ///
    /// impl CallbackHandler for ToolInputs {
    ///     fn on_run_start(&self, event: &Event<'_>, start: &RunStart<'_>) -> HandlerResult {
    ///         if event.run.kind == RunKind::Tool {
    ///             self.0.lock().map_err(|_| "poisoned")?.push(format!("{}({})", event.run.name, start.inputs.get()));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let inputs = std::sync::Arc::new(ToolInputs::default());
    /// let callbacks = CallbackManager::new().with_handler(inputs.clone());
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// assert_eq!(*inputs.0.lock().unwrap(), [r#"calculator("2+2")"#]);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
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
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::event::{ErrorCause, RunError};
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// /// Counts the runs that were cancelled, apart from those that failed.
    /// #[derive(Default)]
    /// struct Cancellations(AtomicUsize);
    ///
    /// impl CallbackHandler for Cancellations {
    ///     fn on_run_error(&self, _event: &Event<'_>, error: &RunError) -> HandlerResult {
    ///         if error.cause == ErrorCause::Cancelled {
    ///             self.0.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let cancelled = std::sync::Arc::new(Cancellations::default());
    /// let callbacks = CallbackManager::new().with_handler(cancelled.clone());
    /// callbacks.start_run(RunKind::Tool, "search", &"rust")?.error("the index is offline")?;
    /// drop(callbacks.start_run(RunKind::Tool, "search", &"rust")?); // its caller gave up
    /// assert_eq!(cancelled.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
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
    ///
    /// Each report replaces the last, so a handler that totals tokens adds them at the run's end,
    /// not here: this one only watches a run's growth.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::event::Usage;
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// #[derive(Default)]
    /// struct LatestUsage(Mutex<Option<Usage>>);
    ///
    /// impl CallbackHandler for LatestUsage {
    ///     fn on_usage(&self, _event: &Event<'_>, usage: &Usage) -> HandlerResult {
    ///         *self.0.lock().map_err(|_| "poisoned")? = Some(*usage);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let latest = std::sync::Arc::new(LatestUsage::default());
    /// let llm = CallbackManager::new().with_handler(latest.clone()).start_run(RunKind::Llm, "fake_llm", &"hi")?;
    /// llm.report_usage(Usage::new(5, 1))?;
    /// llm.report_usage(Usage::new(5, 3))?;
    /// assert_eq!(*latest.0.lock().unwrap(), Some(Usage::new(5, 3)));
    /// llm.end(&"Hello")?;
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
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
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use runtrace_runtime::{CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::handlers::{HandlerResult, Ignore};
    ///
    /// /// Counts the events of model runs, and is never called for the rest.
    /// #[derive(Default)]
    /// struct ModelEvents(AtomicUsize);
    ///
    /// impl CallbackHandler for ModelEvents {
    ///     fn on_event(&self, _event: &Event<'_>) -> HandlerResult {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///         Ok(())
    ///     }
    ///
    ///     fn ignore(&self) -> Ignore {
    ///         Ignore::NON_MODEL_RUNS
    ///     }
    /// }
    ///
    /// let counter = std::sync::Arc::new(ModelEvents::default());
    /// let chain = CallbackManager::new().with_handler(counter.clone()).start_run(RunKind::Chain, "answer", &"hi")?;
    /// chain.children().start_run(RunKind::Llm, "fake_llm", &"hi")?.end(&"hello")?;
    /// chain.end(&"hello")?;
    /// assert_eq!(counter.0.load(Ordering::Relaxed), 2, "the llm's start and end");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    fn ignore(&self) -> Ignore {
        Ignore::NONE
    }

    /// Whether a failure of this handler stops the run with a
    /// [`CallbackError`](crate::CallbackError) instead of being reported. Read once, when
    /// the handler is added to a manager.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::event::{EventType, RunStart};
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// /// Refuses to let an agent run a shell.
    /// struct NoShell;
    ///
    /// impl CallbackHandler for NoShell {
    ///     fn on_run_start(&self, event: &Event<'_>, _start: &RunStart<'_>) -> HandlerResult {
    ///         if event.run.name == "shell" {
    ///             return Err("the shell tool is disabled".into());
    ///         }
    ///         Ok(())
    ///     }
    ///
    ///     fn raise_error(&self) -> bool {
    ///         true
    ///     }
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(NoShell);
    /// let refused = callbacks.start_run(RunKind::Tool, "shell", &"rm -rf /").unwrap_err();
    /// assert!(matches!(refused, CallbackError::Raised { event: EventType::Start, .. }));
    /// assert!(refused.to_string().ends_with("the shell tool is disabled"));
    /// assert!(callbacks.start_run(RunKind::Tool, "calculator", &"2+2").is_ok());
    /// ```
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
    ///
    /// ```
    /// use runtrace_runtime::{CallbackError, CallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::handlers::HandlerResult;
    ///
    /// struct AuditLog;
    ///
    /// impl CallbackHandler for AuditLog {
    ///     fn on_event(&self, _event: &Event<'_>) -> HandlerResult {
    ///         Err("the audit database is read-only".into())
    ///     }
    ///
    ///     fn raise_error(&self) -> bool {
    ///         true
    ///     }
    ///
    ///     fn name(&self) -> &str {
    ///         "audit_log"
    ///     }
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(AuditLog);
    /// let Err(CallbackError::Raised { handler, .. }) = callbacks.start_run(RunKind::Chain, "answer", &"hi") else {
    ///     panic!("the audit log raises");
    /// };
    /// assert_eq!(handler, "audit_log");
    /// ```
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}
