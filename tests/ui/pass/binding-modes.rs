//! `mut` and `ref` bindings of recorded arguments and of the run manager.
use std::sync::Arc;

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
#[allow(clippy::toplevel_ref_arg)]
fn bindings(mut count: u8, ref label: String, mut run: &RunManager) -> String {
    count += 1;
    run = &*run;
    let _ = run;
    format!("{label}{count}")
}

#[traced_run(kind = "tool")]
async fn bindings_async(mut count: u8, ref label: String) -> String {
    count += 1;
    format!("{label}{count}")
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    assert_eq!(bindings(1, "n".into(), &callbacks), "n2");
    assert_eq!(futures::executor::block_on(bindings_async(1, "n".into(), &callbacks)), "n2");
    let events = recorder.events();
    let EventData::Start(start) = &events[0].data else { panic!("not a start") };
    assert_eq!(*start.inputs.get(), serde_json::json!({"count": 1, "label": "n"}));
}
