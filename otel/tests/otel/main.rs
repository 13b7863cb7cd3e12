//! runtrace-otel's tests: runs into spans with the SDK's in-memory exporter, faults against a
//! loopback backend, and the end-to-end test against a real Arize Phoenix.

mod common;
mod content;
mod context;
mod conventions;
mod errors;
mod faults;
mod phoenix;
mod spans;
