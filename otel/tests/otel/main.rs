//! runtrace-otel's tests: runs into spans with the SDK's in-memory exporter, faults against a
//! loopback backend, and the end-to-end tests against a real Arize Phoenix, one of them
//! restarting it.

mod common;
mod content;
mod context;
mod conventions;
mod errors;
mod faults;
mod phoenix;
mod phoenix_restart;
mod spans;
