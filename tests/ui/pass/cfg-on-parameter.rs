//! `#[cfg]` on a parameter: the parameter and its entry in the inputs come and go together.
use std::sync::Arc;

use runtrace::prelude::*;

#[traced_run(kind = "tool")]
fn configured(
    always: u8,
    #[cfg(any())] never: String,
    #[cfg(not(any()))] present: u8,
    run: &RunManager,
) -> u8 {
    let _ = run;
    always + present
}

#[traced_run(kind = "tool", redact(secret))]
async fn configured_async(#[cfg(all())] secret: String, #[cfg(any())] never: String) -> usize {
    secret.len()
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    assert_eq!(configured(1, 2, &callbacks), 3);
    assert_eq!(futures::executor::block_on(configured_async("s3cret".into(), &callbacks)), 6);
    let events = recorder.events();
    let EventData::Start(start) = &events[0].data else { panic!("not a start") };
    assert_eq!(*start.inputs.get(), serde_json::json!({"always": 1, "present": 2}));
}
