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
    /// The emitting thread waits for room: while the handler keeps up with its own pace,
    /// nothing is lost, memory stays bounded, and a handler that cannot keep up slows the
    /// traced code down to its pace. The default.
    ///
    /// The wait is bounded, so that the traced code never waits for good on a handler: a
    /// thread waits for room at most the handler's block timeout,
    /// [`Background::with_block_timeout`](super::Background::with_block_timeout), by default
    /// [10 s](super::Background::DEFAULT_BLOCK_TIMEOUT), and 250 ms on the thread of a
    /// current-thread tokio runtime, whose other tasks (the handler's perhaps) stand still
    /// while it waits; a thread of a multi-thread runtime waits through
    /// `tokio::task::block_in_place`. Events are dropped, each counted in
    /// [`RegisteredHandler::dropped_events`](crate::handlers::RegisteredHandler::dropped_events),
    /// exactly when:
    ///
    /// - no slot freed up within the block timeout: that event is dropped, the handler counts
    ///   as stalled, and a warning says so, once for the handler's lifetime;
    /// - the handler is stalled and the queue is full: the event is dropped at once, without
    ///   waiting, until a send finds room again, which ends the stall. A stuck handler costs
    ///   the traced code one wait, not one per event;
    /// - the sender is the handler's own code (it traces code that it hears itself) and its
    ///   queue is full: only that handler empties its queue, so it never waits on it.
    ///
    /// So with the defaults, on a current-thread runtime a handler that takes more than
    /// 250 ms over an event drops events once its queue is full: a burst of more than its
    /// capacity keeps about the first `capacity + 1` events and drops the rest. Give such a
    /// handler a longer block timeout, a larger capacity, or a multi-thread runtime.
    #[default]
    Block,
    /// The new event is dropped and counted, so the traced code never waits; the drops
    /// are reported as warnings and by [`RegisteredHandler::dropped_events`](crate::handlers::RegisteredHandler::dropped_events).
    DropNewest,
}
