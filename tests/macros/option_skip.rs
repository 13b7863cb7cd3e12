//! `skip(arg, ..)` and `skip_all`: arguments left out of the recorded inputs, never
//! serialized, and free to be of types that cannot be.

use std::sync::Mutex;

use crate::common::{Counted, inputs, recording};
use runtrace::prelude::*;
use serde_json::json;

/// A client that cannot be serialized.
struct HttpClient {
    requests: Mutex<u32>,
}

#[traced_run(kind = "retriever", skip(client))]
fn search(query: String, client: &HttpClient, limit: usize) -> usize {
    *client.requests.lock().unwrap() += 1;
    query.len().min(limit)
}

#[traced_run(kind = "tool", skip(client, token))]
async fn call_api(path: String, client: &HttpClient, token: Counted) -> String {
    let _ = (client, token);
    path
}

#[traced_run(skip_all)]
fn everything_skipped(client: &HttpClient, token: Counted, (a, b): (u8, u8)) -> u8 {
    let _ = (client, token);
    a + b
}

struct Index {
    client: HttpClient,
}

impl Index {
    #[traced_run(kind = "retriever", skip_all)]
    async fn lookup(&self, token: Counted, run: &RunManager) -> bool {
        let _ = (&self.client, token);
        run.is_recording()
    }
}

#[test]
fn skipped_argument_is_left_out_and_the_others_recorded() {
    let (recorder, callbacks) = recording();
    let client = HttpClient { requests: Mutex::new(0) };

    assert_eq!(search("rust".into(), &client, 3, &callbacks), 3);

    assert_eq!(inputs(&recorder), [json!({"query": "rust", "limit": 3})]);
    assert_eq!(*client.requests.lock().unwrap(), 1, "the body still gets the skipped argument");
}

#[tokio::test]
async fn several_skipped_arguments_are_never_serialized() {
    let (recorder, callbacks) = recording();
    let client = HttpClient { requests: Mutex::new(0) };
    let token = Counted::default();

    assert_eq!(call_api("/v1".into(), &client, token.clone(), &callbacks).await, "/v1");

    assert_eq!(inputs(&recorder), [json!({"path": "/v1"})]);
    assert_eq!(token.serializations(), 0);
}

#[test]
fn skip_all_records_an_empty_object_and_allows_unnamed_patterns() {
    let (recorder, callbacks) = recording();
    let client = HttpClient { requests: Mutex::new(0) };
    let token = Counted::default();

    assert_eq!(everything_skipped(&client, token.clone(), (2, 3), &callbacks), 5);

    assert_eq!(inputs(&recorder), [json!({})]);
    assert_eq!(token.serializations(), 0);
}

#[tokio::test]
async fn skip_all_on_a_method_records_an_empty_object() {
    let (recorder, callbacks) = recording();
    let token = Counted::default();
    let index = Index { client: HttpClient { requests: Mutex::new(0) } };

    assert!(index.lookup(token.clone(), &callbacks).await);

    assert_eq!(inputs(&recorder), [json!({})]);
    assert_eq!(recorder.runs()[0].name, "Index::lookup");
    assert_eq!(token.serializations(), 0);
}
