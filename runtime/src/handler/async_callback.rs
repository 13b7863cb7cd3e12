//! [`AsyncCallbackHandler`]: a handler run in the background, off the traced call's path.

use std::future::Future;
use std::pin::Pin;

use super::error::HandlerResult;
use super::ignore::Ignore;
use crate::event::Event;

/// The future an [`AsyncCallbackHandler`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A handler run in the background, off the traced function's critical path.
///
/// Events reach it in the order they were emitted, one at a time, on runtrace's dispatch
/// thread; [`flush`](crate::flush) waits until every event emitted so far was handled. Its
/// failures are reported and never stop a run: it hears about events after the fact.
///
/// ```
/// use runtrace_runtime::handlers::{BoxFuture, HandlerResult};
/// use runtrace_runtime::{AsyncCallbackHandler, Event};
///
/// struct Exporter;
///
/// impl AsyncCallbackHandler for Exporter {
///     fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
///         Box::pin(async move {
///             // e.g. send `event` to a collector over the network
///             let _ = event;
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait AsyncCallbackHandler: Send + Sync + 'static {
    /// Handles one event.
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult>;

    /// The events this handler never wants; read once, when it is added to a manager.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event, RunKind};
    /// use runtrace_runtime::handlers::{BoxFuture, HandlerResult, Ignore};
    ///
    /// /// Counts model runs' events in the background; it never reads inputs and outputs, so
    /// /// none are copied for it.
    /// struct ModelMetrics(Arc<AtomicUsize>);
    ///
    /// impl AsyncCallbackHandler for ModelMetrics {
    ///     fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
    ///         Box::pin(async move {
    ///             self.0.fetch_add(1, Ordering::Relaxed);
    ///             Ok(())
    ///         })
    ///     }
    ///
    ///     fn ignore(&self) -> Ignore {
    ///         Ignore::NON_MODEL_RUNS | Ignore::PAYLOADS
    ///     }
    /// }
    ///
    /// let events = Arc::new(AtomicUsize::new(0));
    /// let callbacks = CallbackManager::new().with_handler(ModelMetrics(events.clone()));
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"hi")?;
    /// chain.children().start_run(RunKind::Llm, "fake_llm", &"hi")?.end(&"hello")?;
    /// chain.end(&"hello")?;
    /// callbacks.flush_blocking();
    /// assert_eq!(events.load(Ordering::Relaxed), 2, "the llm's start and end");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    fn ignore(&self) -> Ignore {
        Ignore::NONE
    }

    /// The name used in fault reports.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}
