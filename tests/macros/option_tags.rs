//! `tags(..)`: local tags of the run, after the request's inherited ones, never passed on to
//! child runs.

use crate::common::{recording, tags_by_run, tags_of};
use runtrace::prelude::*;

#[traced_run(kind = "llm", tags("model:fake", "streaming"))]
fn fake_llm(prompt: String, run: &RunManager) -> Vec<String> {
    let _ = prompt;
    run.tags().to_vec()
}

#[traced_run(kind = "tool", tags("tool"))]
fn child_tool(run: &RunManager) -> Vec<String> {
    grandchild(run);
    run.tags().to_vec()
}

#[traced_run]
fn grandchild(run: &RunManager) -> Vec<String> {
    run.tags().to_vec()
}

#[traced_run(tags("parent"))]
fn parent(run: &RunManager) -> Vec<String> {
    child_tool(run)
}

#[traced_run(tags("streaming", "extra"))]
async fn overlapping(run: &RunManager) -> Vec<String> {
    run.tags().to_vec()
}

#[test]
fn tags_are_recorded_on_the_start_in_the_order_written() {
    let (recorder, callbacks) = recording();

    let seen_inside = fake_llm("hi".into(), &callbacks);

    assert_eq!(tags_of(&recorder, "fake_llm"), ["model:fake", "streaming"]);
    assert_eq!(seen_inside, ["model:fake", "streaming"]);
}

#[test]
fn request_tags_come_first_then_the_attributes() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request-42"]);

    fake_llm("hi".into(), &callbacks);

    assert_eq!(tags_of(&recorder, "fake_llm"), ["request-42", "model:fake", "streaming"]);
}

#[tokio::test]
async fn a_tag_given_by_both_the_request_and_the_attribute_is_kept_once() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["streaming"]);

    assert_eq!(overlapping(&callbacks).await, ["streaming", "extra"]);

    assert_eq!(tags_of(&recorder, "overlapping"), ["streaming", "extra"]);
}

#[test]
fn attribute_tags_are_not_inherited_by_children_or_grandchildren() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request"]);

    assert_eq!(parent(&callbacks), ["request", "tool"]);

    assert_eq!(
        tags_by_run(&recorder),
        [
            ("parent".to_owned(), vec!["request".to_owned(), "parent".to_owned()]),
            ("child_tool".to_owned(), vec!["request".to_owned(), "tool".to_owned()]),
            ("grandchild".to_owned(), vec!["request".to_owned()]),
        ]
    );
}

#[test]
fn tags_are_the_same_on_every_call() {
    let (recorder, callbacks) = recording();

    fake_llm("a".into(), &callbacks);
    fake_llm("b".into(), &callbacks);

    let all = tags_by_run(&recorder);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], all[1]);
}

#[test]
fn tags_without_handlers_are_not_attached_to_anything() {
    assert!(fake_llm("hi".into(), CallbackManager::none()).is_empty());
}
