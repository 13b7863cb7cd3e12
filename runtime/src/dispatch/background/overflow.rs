//! [`Overflow`]: what a full background queue does with the next event.

/// What happens when a background handler falls `capacity` events behind.
///
/// ```
/// use runtrace_runtime::background::{Background, Overflow};
/// # struct Exporter;
/// # impl runtrace_runtime::AsyncCallbackHandler for Exporter {
/// #     fn on_event<'a>(&'a self, _: &'a runtrace_runtime::Event<'static>)
/// #         -> runtrace_runtime::handlers::BoxFuture<'a, runtrace_runtime::handlers::HandlerResult> { Box::pin(async { Ok(()) }) }
/// # }
/// let handler = Background::new(Exporter).with_capacity(1024).with_overflow(Overflow::DropNewest);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The emitting thread waits for room: nothing is lost, memory stays bounded, and a
    /// handler that cannot keep up slows the traced code down to its pace. The default.
    ///
    /// A thread of a tokio runtime is never parked for good, as the handler may be waiting
    /// on that runtime: on a multi-thread runtime the wait goes through
    /// `tokio::task::block_in_place`; a current-thread runtime, which cannot lend its only
    /// thread, waits at most 250 ms for room — ample for a slow handler — and then drops the
    /// event as [`Overflow::DropNewest`] does, without waiting again until room shows.
    #[default]
    Block,
    /// The new event is dropped and counted, so the traced code never waits; the drops
    /// are reported as warnings and by [`RegisteredHandler::dropped_events`](crate::handlers::RegisteredHandler::dropped_events).
    DropNewest,
}
