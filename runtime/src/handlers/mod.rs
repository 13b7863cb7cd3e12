//! The built-in handlers, one file each.

pub mod channel;
pub mod console;
pub mod recording;
