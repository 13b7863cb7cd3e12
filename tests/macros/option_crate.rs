//! `crate = path`: the expansion reaches the runtime through `path` instead of `::runtrace`,
//! for crates that re-export runtrace under another name.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{names, recording};
use runtrace::CallbackManager;
use runtrace::event::EventType;

mod reexport {
    pub use runtrace as rt;
}

/// A shim whose `start` counts the runs started through it: generated code reaches the
/// runtime only through `__private`, so that module is all a shim needs.
mod shim {
    pub static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    pub mod __private {
        pub use runtrace::__private::*;

        pub fn start(
            parent: &runtrace::CallbackManager,
            spec: &RunSpec<'_>,
            inputs: &[Field<'_>],
        ) -> Result<RunGuard, runtrace::CallbackError> {
            super::STARTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            runtrace::__private::start(parent, spec, inputs)
        }
    }
}

#[reexport::rt::traced_run(kind = "tool", crate = reexport::rt)]
fn through_a_path(x: u32, run: &reexport::rt::RunManager) -> u32 {
    assert!(run.is_recording());
    x + 1
}

#[reexport::rt::traced_run(crate = "reexport::rt")]
async fn through_a_string(x: u32) -> Result<u32, std::io::Error> {
    Ok(x + 1)
}

#[runtrace::traced_run(kind = "tool", crate = shim)]
fn through_the_shim(x: u32) -> u32 {
    x * 2
}

mod nested {
    #[runtrace::traced_run(crate = crate::option_crate::reexport::rt)]
    pub fn from_a_module(x: u32) -> u32 {
        x
    }
}

static SHIM_METHOD_CALLS: AtomicUsize = AtomicUsize::new(0);

struct Tool;

impl Tool {
    #[runtrace::traced_run(crate = shim, metadata(calls = SHIM_METHOD_CALLS.fetch_add(1, Ordering::SeqCst)))]
    fn call(&self) -> u8 {
        1
    }
}

#[tokio::test]
async fn crate_path_and_crate_string_reach_the_runtime_through_the_reexport() {
    let (recorder, callbacks) = recording();

    assert_eq!(through_a_path(1, &callbacks), 2);
    assert_eq!(through_a_string(2, &callbacks).await.ok(), Some(3));
    assert_eq!(nested::from_a_module(4, &callbacks), 4);

    assert_eq!(names(&recorder), ["through_a_path", "through_a_string", "from_a_module"]);
    assert_eq!(recorder.event_types().iter().filter(|t| **t == EventType::End).count(), 3);
}

#[test]
fn the_expansion_calls_the_runtime_at_the_given_path() {
    let (recorder, callbacks) = recording();
    let before = shim::STARTS.load(Ordering::SeqCst);

    assert_eq!(through_the_shim(2, &callbacks), 4);
    assert_eq!(Tool.call(&callbacks), 1);
    assert_eq!(through_the_shim(3, CallbackManager::none()), 6);

    // The call no handler hears stops at the check before `start`.
    assert_eq!(shim::STARTS.load(Ordering::SeqCst) - before, 2);
    assert_eq!(names(&recorder), ["through_the_shim", "Tool::call"]);
    assert_eq!(SHIM_METHOD_CALLS.load(Ordering::SeqCst), 1);
}
