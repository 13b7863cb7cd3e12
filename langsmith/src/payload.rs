//! What is sent: each run of a finished tree as one `post` operation, in the two bodies
//! LangSmith's ingest API takes.
//!
//! - `POST /runs/multipart`: a `multipart/form-data` body with, per run, a part named
//!   `post.{id}` holding the run's fields but its large ones, and a part each for those
//!   that it has: `post.{id}.inputs`, `.outputs`, `.events`, `.extra`, `.error`; every part
//!   `application/json` with its `Content-Length`. The server stores large fields apart,
//!   which is why the SDK splits them, and so do we.
//! - `POST /runs/batch`: one JSON object `{"post": [run, ...], "patch": []}`, each run whole.
//!
//! A run is encoded once, when its tree is exported, into the parts of the first body; the
//! second is put together from them, so a fallback costs no second serialization.
//!
//! As LangSmith's SDK does, fields that are `null` are left out, and `new_token` events are
//! sent without their text: the run's outputs hold it, and streamed text would be sent twice.

use runtrace_runtime::tracer::RunTree;
use serde_json::{Map, Value};

/// The fields sent as parts of their own, in the SDK's order.
const SPLIT: [&str; 5] = ["inputs", "outputs", "events", "extra", "error"];

/// One run, encoded: its id and its parts.
#[derive(Debug)]
pub(crate) struct RunOp {
    id: String,
    /// The run's fields but those of [`SPLIT`], as a JSON object.
    main: Vec<u8>,
    /// The fields of [`SPLIT`] it has, each as JSON.
    parts: Vec<(&'static str, Vec<u8>)>,
}

impl RunOp {
    /// Every run of `tree`, parents before children, each in the project `project` unless
    /// its tree names one.
    pub(crate) fn of_tree(tree: &RunTree, project: Option<&str>) -> Result<Vec<RunOp>, serde_json::Error> {
        tree.runs().map(|run| RunOp::of_run(run, project)).collect()
    }

    fn of_run(run: &RunTree, project: Option<&str>) -> Result<RunOp, serde_json::Error> {
        let mut fields = match serde_json::to_value(run.fields())? {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        fields.retain(|_, value| !value.is_null());
        if let (false, Some(project)) = (fields.contains_key("session_name"), project) {
            fields.insert("session_name".to_owned(), Value::String(project.to_owned()));
        }
        if let Some(Value::Array(events)) = fields.get_mut("events") {
            for event in events.iter_mut().filter_map(Value::as_object_mut) {
                if event.get("name").and_then(Value::as_str) == Some("new_token") {
                    event.remove("kwargs");
                }
            }
        }
        let mut parts = Vec::with_capacity(SPLIT.len());
        for name in SPLIT {
            if let Some(value) = fields.remove(name) {
                parts.push((name, serde_json::to_vec(&value)?));
            }
        }
        Ok(RunOp { id: run.id.to_string(), main: serde_json::to_vec(&fields)?, parts })
    }

    /// The bytes it takes in a body, near enough to batch by.
    pub(crate) fn size(&self) -> usize {
        self.main.len() + self.parts.iter().map(|(_, part)| part.len()).sum::<usize>()
    }
}

/// The `multipart/form-data` body of `ops`, with `boundary`.
pub(crate) fn multipart(ops: &[RunOp], boundary: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(ops.iter().map(|op| op.size() + 160 * (1 + op.parts.len())).sum());
    for op in ops {
        part(&mut body, boundary, &format!("post.{}", op.id), &op.main);
        for (name, json) in &op.parts {
            part(&mut body, boundary, &format!("post.{}.{name}", op.id), json);
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

fn part(body: &mut Vec<u8>, boundary: &str, name: &str, json: &[u8]) {
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        json.len()
    );
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(b"\r\n");
}

/// The `/runs/batch` body of `ops`: each run's main object with its parts put back in.
pub(crate) fn batch(ops: &[RunOp]) -> Vec<u8> {
    let mut body = Vec::with_capacity(ops.iter().map(|op| op.size() + 64).sum::<usize>() + 32);
    body.extend_from_slice(b"{\"post\":[");
    for (index, op) in ops.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        // `main` is a JSON object with at least an id: reopen it before its closing brace.
        let open = op.main.strip_suffix(b"}").unwrap_or(&op.main);
        body.extend_from_slice(open);
        for (name, json) in &op.parts {
            body.extend_from_slice(format!(",\"{name}\":").as_bytes());
            body.extend_from_slice(json);
        }
        body.push(b'}');
    }
    body.extend_from_slice(b"],\"patch\":[]}");
    body
}

#[cfg(test)]
mod tests {
    use runtrace_runtime::tracer::collect_runs;
    use runtrace_runtime::{CallbackManager, RunKind};

    use super::*;

    fn answer_tree() -> RunTree {
        let (_, mut trees) = collect_runs(|| -> Result<(), runtrace_runtime::CallbackError> {
            let chain = CallbackManager::none().start_run(RunKind::Chain, "answer", &"2+2?")?;
            let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &"2+2?")?;
            llm.on_llm_new_token("4")?;
            llm.end(&"4")?;
            chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.error("overflow")?;
            chain.end(&"4")
        });
        trees.remove(0)
    }

    #[test]
    fn a_run_is_split_into_the_sdks_parts_without_nulls_and_token_text() -> Result<(), serde_json::Error> {
        let ops = RunOp::of_tree(&answer_tree(), Some("evals"))?;
        let names: Vec<Vec<&str>> = ops.iter().map(|op| op.parts.iter().map(|(name, _)| *name).collect()).collect();
        assert_eq!(names[0], ["inputs", "outputs", "events", "extra"]);
        assert_eq!(names[2], ["inputs", "events", "extra", "error"], "a failed run has no outputs part");
        let main: Value = serde_json::from_slice(&ops[0].main)?;
        assert_eq!(main["session_name"], "evals");
        assert!(main.get("parent_run_id").is_none() && main.get("inputs").is_none());
        let events: Value = serde_json::from_slice(&ops[1].parts[2].1)?;
        assert_eq!(events[0].get("kwargs"), None);
        Ok(())
    }

    #[test]
    fn the_batch_body_puts_the_parts_back_into_each_run() -> Result<(), serde_json::Error> {
        let tree = answer_tree();
        let ops = RunOp::of_tree(&tree, None)?;
        let body: Value = serde_json::from_slice(&batch(&ops))?;
        assert_eq!(body["post"].as_array().map(Vec::len), Some(3));
        assert_eq!(body["patch"], serde_json::json!([]));
        let mut whole = serde_json::to_value(tree.fields())?;
        if let Some(fields) = whole.as_object_mut() {
            fields.retain(|_, value| !value.is_null());
        }
        assert_eq!(body["post"][0], whole);
        Ok(())
    }

    #[test]
    fn multipart_parts_are_named_typed_and_sized() -> Result<(), serde_json::Error> {
        let ops = RunOp::of_tree(&answer_tree(), None)?;
        let body = String::from_utf8_lossy(&multipart(&ops[..1], "b0undary")).into_owned();
        assert!(
            body.starts_with(&format!("--b0undary\r\nContent-Disposition: form-data; name=\"post.{}\"", ops[0].id))
        );
        assert_eq!(body.matches("Content-Type: application/json").count(), 5);
        assert!(body.contains(&format!("name=\"post.{}.inputs\"", ops[0].id)));
        assert!(body.ends_with("--b0undary--\r\n"));
        Ok(())
    }
}
