//! Handlers: the built-in ones, one file each, and what a handler author needs beside the
//! two traits ([`CallbackHandler`](crate::CallbackHandler),
//! [`AsyncCallbackHandler`](crate::AsyncCallbackHandler)).
//!
//! - [`ConsoleHandler`] prints one line per event (what `verbose` adds);
//! - [`RecordingHandler`] keeps every event, for tests and inspection;
//! - [`ChannelHandler`] forwards a request's events to a `tokio::sync::mpsc` channel;
//! - the tracer, which assembles run trees, is in [`tracer`](crate::tracer).
//!
//! A handler returns a [`HandlerResult`], opts out of events with [`Ignore`], and is held by
//! managers as a [`RegisteredHandler`] (what [`IntoHandler`] makes of it).

mod channel;
mod console;
mod recording;

pub use channel::{ChannelHandler, StreamEvent};
pub use console::ConsoleHandler;
pub(crate) use console::Elapsed;
pub use recording::RecordingHandler;

pub use crate::dispatch::{AsyncMarker, IntoHandler, RegisteredHandler, SyncMarker};
pub use crate::handler::{BoxFuture, HandlerError, HandlerResult, Ignore};
