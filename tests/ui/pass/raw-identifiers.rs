//! Raw identifiers as function, parameter, option-list and metadata names.
use std::sync::Arc;

use runtrace::prelude::*;

#[traced_run(kind = "tool", redact(r#match), metadata(r#type = "raw"))]
fn r#try(r#type: String, r#match: String) -> String {
    format!("{}{}", r#type, r#match)
}

#[traced_run(kind = "tool", skip(r#type))]
fn skips_raw(r#type: u8, r#in: u8) -> u8 {
    r#type + r#in
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    assert_eq!(r#try("a".into(), "b".into(), &callbacks), "ab");
    assert_eq!(skips_raw(1, 2, &callbacks), 3);
    let runs = recorder.runs();
    assert_eq!(runs[0].name, "try");
    let events = recorder.events();
    let EventData::Start(start) = &events[0].data else { panic!("not a start") };
    assert_eq!(*start.inputs.get(), serde_json::json!({"type": "a", "match": "[REDACTED]"}));
    let EventData::Start(start) = &events[2].data else { panic!("not a start") };
    assert_eq!(*start.inputs.get(), serde_json::json!({"in": 2}));
}
