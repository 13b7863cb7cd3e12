//! Dispatch: the handlers a manager holds, and how an event reaches them — sync handlers
//! inline, on the emitting thread, async ones through a queue to the background.

pub(crate) mod background;
pub(crate) mod catch_unwind;
pub(crate) mod inline;
mod registered;
pub(crate) mod report;

pub use background::{flush, flush_blocking};
pub use registered::{AsyncMarker, IntoHandler, RegisteredHandler, SyncMarker};
