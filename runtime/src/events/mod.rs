//! A call's events as a stream: LangChain's `astream_events`.
//!
//! [`stream_events`] runs a traced call with a handler of its own added to the callbacks it is
//! given, and returns an [`EventStream`] of the call's [`StandardEvent`]s, then its output:
//! what a server sends its client while a request runs, without a channel or a `select!` of
//! its own.

mod collector;
mod event_stream;
mod filter;
mod standard_event;

pub use event_stream::{EventStream, Item, stream_events};
pub use standard_event::StandardEvent;
