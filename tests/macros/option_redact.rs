//! `redact(arg, ..)`: arguments recorded as `"[REDACTED]"`, their value never serialized,
//! the body given the real value.

use crate::common::{Counted, inputs, recording};
use runtrace::prelude::*;
use serde_json::json;

/// A secret that cannot be serialized at all.
struct Password(&'static str);

#[traced_run(kind = "llm", redact(api_key))]
fn complete(prompt: String, api_key: String) -> String {
    format!("{prompt} (key {api_key})")
}

/// `key` is a secret that counts its serializations.
#[traced_run(kind = "tool", redact(key, password), skip(verbose_log))]
async fn login(user: String, key: Counted, password: Password, verbose_log: Vec<String>) -> bool {
    let _ = (key, verbose_log);
    !user.is_empty() && password.0 == "hunter2"
}

#[test]
fn redacted_argument_is_recorded_as_redacted_and_the_body_gets_its_value() {
    let (recorder, callbacks) = recording();

    let out = complete("hi".into(), "sk-secret".into(), &callbacks);

    assert_eq!(out, "hi (key sk-secret)");
    assert_eq!(inputs(&recorder), [json!({"prompt": "hi", "api_key": "[REDACTED]"})]);
    let start = format!("{:?}", recorder.events()[0]);
    assert!(start.contains("[REDACTED]") && !start.contains("sk-secret"), "the secret leaked into the start: {start}");
}

#[tokio::test]
async fn several_redacted_arguments_are_never_serialized_and_need_not_be_serializable() {
    let (recorder, callbacks) = recording();
    let key = Counted::default();

    assert!(login("ada".into(), key.clone(), Password("hunter2"), vec![], &callbacks).await);

    assert_eq!(inputs(&recorder), [json!({"user": "ada", "key": "[REDACTED]", "password": "[REDACTED]"})]);
    assert_eq!(key.serializations(), 0);
}

#[test]
fn redaction_applies_to_every_recorded_call() {
    let (recorder, callbacks) = recording();

    complete("a".into(), "k1".into(), &callbacks);
    complete("b".into(), "k2".into(), CallbackManager::none());
    complete("c".into(), "k3".into(), &callbacks);

    assert_eq!(
        inputs(&recorder),
        [json!({"prompt": "a", "api_key": "[REDACTED]"}), json!({"prompt": "c", "api_key": "[REDACTED]"})]
    );
}
