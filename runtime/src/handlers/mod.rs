//! The built-in handlers, one file each.

pub mod console;
pub mod recording;
