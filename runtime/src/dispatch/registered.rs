//! [`RegisteredHandler`]: a handler as a manager holds it, sync or in the background.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::background::{Background, Flush, FlushTimeout, Worker};
use crate::event::RunId;
use crate::handler::{AsyncCallbackHandler, CallbackHandler, Ignore};

/// A handler as a manager holds it: sync (inline) or async (background), cheap to clone.
///
/// Managers keep one copy of each handler, comparing by identity: the same `Arc`, or clones
/// of the same `RegisteredHandler`, added twice are kept once. Managers make one in
/// [`CallbackManager::with_handler`](crate::CallbackManager::with_handler); make one yourself
/// ([`RegisteredHandler::new`], or [`IntoHandler::into_handler`] for an async handler) to
/// share a handler between managers by identity, or to flush one handler.
///
/// ```
/// use runtrace_runtime::CallbackManager;
/// use runtrace_runtime::handlers::{ConsoleHandler, RegisteredHandler};
///
/// let console = RegisteredHandler::new(ConsoleHandler::new());
/// let callbacks = CallbackManager::new().with_handler(console.clone()).with_handler(console);
/// assert_eq!(callbacks.handlers().len(), 1);
/// ```
#[derive(Clone)]
pub struct RegisteredHandler(pub(crate) HandlerRepr);

#[derive(Clone)]
pub(crate) enum HandlerRepr {
    Inline(Arc<Inline>),
    Background(Arc<Worker>),
}

/// A sync handler, with what it said about itself when it was added, read once.
pub(crate) struct Inline {
    pub(crate) handler: Arc<dyn CallbackHandler>,
    pub(crate) ignore: Ignore,
    pub(crate) raise: bool,
}

impl RegisteredHandler {
    /// Wraps a sync handler.
    ///
    /// One handler shared by the managers of a request and of a component hears each run once:
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::handlers::{RecordingHandler, RegisteredHandler};
    ///
    /// let audit = RegisteredHandler::new(RecordingHandler::new());
    /// let request = CallbackManager::new().with_handler(audit.clone());
    /// let component = CallbackManager::new().with_handler(audit);
    /// let configured = CallbackManager::configure(&request, &component);
    /// assert_eq!(configured.handlers().len(), 1);
    /// ```
    #[must_use]
    pub fn new<H: CallbackHandler>(handler: H) -> Self {
        Self::inline(Arc::new(handler))
    }

    fn inline(handler: Arc<dyn CallbackHandler>) -> Self {
        let ignore = handler.ignore();
        let raise = handler.raise_error();
        RegisteredHandler(HandlerRepr::Inline(Arc::new(Inline { handler, ignore, raise })))
    }

    /// The sync handler itself, to ask what type it is (`downcast_ref`); `None` for a
    /// handler that runs in the background.
    pub(crate) fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        match &self.0 {
            HandlerRepr::Inline(inline) => Some(&*inline.handler as &(dyn Any + Send + Sync)),
            HandlerRepr::Background(_) => None,
        }
    }

    /// Whether the handler holds a run with this id (see
    /// [`CallbackHandler::holds_run`]); a handler in the background is never asked, since it
    /// learns of runs later than they start.
    pub(crate) fn holds_run(&self, run_id: RunId) -> bool {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.handler.holds_run(run_id),
            HandlerRepr::Background(_) => false,
        }
    }

    /// The shared sync handler, to hold on to as its own type (`downcast`); `None` for a
    /// handler that runs in the background.
    pub(crate) fn to_any(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        match &self.0 {
            HandlerRepr::Inline(inline) => Some(Arc::clone(&inline.handler) as Arc<dyn Any + Send + Sync>),
            HandlerRepr::Background(_) => None,
        }
    }

    /// The handler's name, as used in fault reports.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackHandler, Event};
    /// use runtrace_runtime::handlers::{HandlerResult, RecordingHandler, RegisteredHandler};
    ///
    /// struct AuditLog;
    ///
    /// impl CallbackHandler for AuditLog {
    ///     fn on_event(&self, _event: &Event<'_>) -> HandlerResult {
    ///         Ok(())
    ///     }
    ///
    ///     fn name(&self) -> &str {
    ///         "audit_log"
    ///     }
    /// }
    ///
    /// assert_eq!(RegisteredHandler::new(AuditLog).name(), "audit_log");
    /// let recorder = RegisteredHandler::new(RecordingHandler::new());
    /// assert!(recorder.name().ends_with("RecordingHandler"), "by default, the type's name");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.handler.name(),
            HandlerRepr::Background(worker) => worker.name(),
        }
    }

    /// Whether this handler runs in the background.
    ///
    /// ```
    /// use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event};
    /// use runtrace_runtime::handlers::{BoxFuture, HandlerResult, RecordingHandler};
    ///
    /// struct Exporter;
    ///
    /// impl AsyncCallbackHandler for Exporter {
    ///     fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
    ///         Box::pin(async { Ok(()) })
    ///     }
    /// }
    ///
    /// let callbacks = CallbackManager::new().with_handler(RecordingHandler::new()).with_handler(Exporter);
    /// let background: Vec<bool> = callbacks.handlers().iter().map(|handler| handler.is_background()).collect();
    /// assert_eq!(background, [false, true]);
    /// ```
    #[must_use]
    pub fn is_background(&self) -> bool {
        matches!(self.0, HandlerRepr::Background(_))
    }

    pub(crate) fn ignores(&self, flag: Ignore) -> bool {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.ignore.contains(flag),
            HandlerRepr::Background(worker) => worker.ignore().contains(flag),
        }
    }

    fn identity(&self) -> *const () {
        match &self.0 {
            HandlerRepr::Inline(inline) => Arc::as_ptr(&inline.handler).cast(),
            HandlerRepr::Background(worker) => Arc::as_ptr(worker).cast(),
        }
    }
}

impl PartialEq for RegisteredHandler {
    fn eq(&self, other: &RegisteredHandler) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for RegisteredHandler {}

impl fmt::Debug for RegisteredHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RegisteredHandler").field(&self.name()).finish()
    }
}

/// What a manager's `with_handler` accepts: a sync handler (by value or `Arc`), an async
/// handler (by value or wrapped in [`Background`]), or a [`RegisteredHandler`].
///
/// The `Marker` parameter only keeps the sync and async conversions apart; it is inferred.
///
/// A helper that takes any handler, as `with_handler` does:
///
/// ```
/// use std::sync::Arc;
/// use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event};
/// use runtrace_runtime::handlers::{BoxFuture, HandlerResult, IntoHandler, RecordingHandler};
///
/// /// The callbacks of one request of this service, with the handler the caller chose.
/// fn request_callbacks<M>(request_id: &str, handler: impl IntoHandler<M>) -> CallbackManager {
///     CallbackManager::new().with_handler(handler).with_metadata([("request_id", request_id)])
/// }
///
/// struct Exporter;
///
/// impl AsyncCallbackHandler for Exporter {
///     fn on_event<'a>(&'a self, _event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
///         Box::pin(async { Ok(()) })
///     }
/// }
///
/// let recorded = request_callbacks("req-1", Arc::new(RecordingHandler::new()));
/// let exported = request_callbacks("req-2", Exporter);
/// assert!(!recorded.handlers()[0].is_background());
/// assert!(exported.handlers()[0].is_background());
/// ```
pub trait IntoHandler<Marker> {
    /// The handler, ready for a manager.
    fn into_handler(self) -> RegisteredHandler;
}

/// Marks the conversions of [`IntoHandler`] for sync handlers.
#[doc(hidden)]
#[derive(Debug)]
pub enum SyncMarker {}

/// Marks the conversions of [`IntoHandler`] for async handlers.
#[doc(hidden)]
#[derive(Debug)]
pub enum AsyncMarker {}

impl IntoHandler<RegisteredHandler> for RegisteredHandler {
    fn into_handler(self) -> RegisteredHandler {
        self
    }
}

impl<H: CallbackHandler> IntoHandler<SyncMarker> for H {
    fn into_handler(self) -> RegisteredHandler {
        RegisteredHandler::new(self)
    }
}

impl<H: CallbackHandler> IntoHandler<SyncMarker> for Arc<H> {
    fn into_handler(self) -> RegisteredHandler {
        RegisteredHandler::inline(self)
    }
}

impl IntoHandler<SyncMarker> for Arc<dyn CallbackHandler> {
    fn into_handler(self) -> RegisteredHandler {
        RegisteredHandler::inline(self)
    }
}

impl<H: AsyncCallbackHandler> IntoHandler<AsyncMarker> for H {
    fn into_handler(self) -> RegisteredHandler {
        Background::new(self).into_handler()
    }
}

impl<H: AsyncCallbackHandler> IntoHandler<AsyncMarker> for Background<H> {
    fn into_handler(self) -> RegisteredHandler {
        RegisteredHandler(HandlerRepr::Background(self.start()))
    }
}

impl RegisteredHandler {
    /// Waits until this handler, if it runs in the background, has handled every event
    /// emitted before the call, for as long as that takes. Returns at once for a sync
    /// handler, and inside this handler's own code, which alone empties its queue.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # struct Exporter;
    /// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
    /// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
    /// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
    /// # }
    /// use runtrace_runtime::handlers::IntoHandler;
    ///
    /// let exporter = Exporter.into_handler();
    /// exporter.flush().await;
    /// # }
    /// ```
    pub async fn flush(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            Flush::of(worker).wait().await;
        }
    }

    /// [`flush`](Self::flush) for synchronous code.
    ///
    /// ```
    /// use runtrace_runtime::handlers::{ConsoleHandler, RegisteredHandler};
    ///
    /// RegisteredHandler::new(ConsoleHandler::new()).flush_blocking();
    /// ```
    pub fn flush_blocking(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            Flush::of(worker).wait_blocking();
        }
    }

    /// [`flush`](Self::flush) with a deadline: waits at most `timeout`, as
    /// [`background::flush_timeout`](crate::background::flush_timeout) does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use runtrace_runtime::handlers::{ConsoleHandler, RegisteredHandler};
    ///
    /// let console = RegisteredHandler::new(ConsoleHandler::new());
    /// assert!(console.flush_timeout(Duration::from_secs(1)).await.is_ok());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`FlushTimeout`] naming this handler, with the events it still held, when it had not
    /// handled them all by the deadline.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushTimeout> {
        match &self.0 {
            HandlerRepr::Background(worker) => Flush::of(worker).wait_timeout(timeout).await,
            HandlerRepr::Inline(_) => Ok(()),
        }
    }

    /// [`flush_timeout`](Self::flush_timeout) for synchronous code.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtrace_runtime::handlers::{ConsoleHandler, RegisteredHandler};
    ///
    /// RegisteredHandler::new(ConsoleHandler::new()).flush_blocking_timeout(Duration::from_secs(1))?;
    /// # Ok::<(), runtrace_runtime::background::FlushTimeout>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`FlushTimeout`] as for [`flush_timeout`](Self::flush_timeout).
    pub fn flush_blocking_timeout(&self, timeout: Duration) -> Result<(), FlushTimeout> {
        match &self.0 {
            HandlerRepr::Background(worker) => Flush::of(worker).wait_blocking_timeout(timeout),
            HandlerRepr::Inline(_) => Ok(()),
        }
    }

    /// How many events this background handler dropped: those that found its queue full
    /// under [`Overflow::DropNewest`](crate::background::Overflow::DropNewest), or under
    /// [`Overflow::Block`](crate::background::Overflow::Block) once the wait for room timed
    /// out, and those sent after its queue had closed for good. Always 0 for a sync handler.
    ///
    /// ```
    /// use runtrace_runtime::handlers::{ConsoleHandler, RegisteredHandler};
    ///
    /// assert_eq!(RegisteredHandler::new(ConsoleHandler::new()).dropped_events(), 0);
    /// ```
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        match &self.0 {
            HandlerRepr::Background(worker) => worker.dropped(),
            HandlerRepr::Inline(_) => 0,
        }
    }
}

// Dispatch catches every handler panic and managers hold no state a panic could leave
// half-written, so code that catches panics may hold handlers across the boundary.
impl std::panic::UnwindSafe for RegisteredHandler {}
impl std::panic::RefUnwindSafe for RegisteredHandler {}
