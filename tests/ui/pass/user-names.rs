//! User parameters and locals named like the expansion's own values never clash with them.
#![deny(unused_variables)]

use std::sync::Arc;

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn names(run_id: u8, result: u8, inputs: u8, handler: u8, guard: u8, spec: u8, callbacks: u8) -> u8 {
    let outcome = run_id + result + inputs + handler + guard + spec + callbacks;
    let __runtrace_guard = 1;
    let __runtrace_ret = 1;
    outcome + __runtrace_guard + __runtrace_ret
}

#[traced_run(kind = "tool")]
async fn names_async(result: u8, inputs: u8, callbacks: Vec<u8>, run: &RunManager) -> u8 {
    let _ = run;
    result + inputs + callbacks.len() as u8
}

#[traced_run(kind = "tool")]
fn output(value: u8, error: u8, panic: u8, early: u8, spec: u8) -> u8 {
    value + error + panic + early + spec
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    assert_eq!(names(1, 1, 1, 1, 1, 1, 1, &callbacks), 9);
    assert_eq!(futures::executor::block_on(names_async(1, 1, vec![1], &callbacks)), 3);
    assert_eq!(output(1, 1, 1, 1, 1, &callbacks), 5);
    let events = recorder.events();
    let EventData::Start(start) = &events[0].data else { panic!("not a start") };
    assert_eq!(
        *start.inputs.get(),
        serde_json::json!({"run_id": 1, "result": 1, "inputs": 1, "handler": 1, "guard": 1, "spec": 1, "callbacks": 1})
    );
}
