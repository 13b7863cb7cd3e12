//! [`RegisteredHandler`]: a handler as a manager holds it, sync or in the background.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::background::{Background, Worker};
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

    /// The shared sync handler, to hold on to as its own type (`downcast`); `None` for a
    /// handler that runs in the background.
    pub(crate) fn to_any(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        match &self.0 {
            HandlerRepr::Inline(inline) => Some(Arc::clone(&inline.handler) as Arc<dyn Any + Send + Sync>),
            HandlerRepr::Background(_) => None,
        }
    }

    /// The handler's name, as used in fault reports.
    #[must_use]
    pub fn name(&self) -> &str {
        match &self.0 {
            HandlerRepr::Inline(inline) => inline.handler.name(),
            HandlerRepr::Background(worker) => worker.name(),
        }
    }

    /// Whether this handler runs in the background.
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
    /// emitted before the call. Returns at once for a sync handler.
    pub async fn flush(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            worker.flush().await;
        }
    }

    /// [`flush`](Self::flush) for synchronous code.
    pub fn flush_blocking(&self) {
        if let HandlerRepr::Background(worker) = &self.0 {
            worker.flush_blocking();
        }
    }

    /// How many events this background handler dropped under
    /// [`Overflow::DropNewest`](crate::background::Overflow::DropNewest); always 0 otherwise.
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
