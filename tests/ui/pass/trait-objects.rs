//! A traced trait method declaration and its implementations, called through `Box<dyn Tool>`,
//! and a traced default method.
use std::sync::Arc;

use runtrace::prelude::*;

trait Tool: Send + Sync {
    fn name(&self) -> &str;

    #[traced_run]
    fn call(&self, input: String, run: &RunManager) -> Result<String, CallbackError>;

    #[traced_run(kind = "tool")]
    fn describe(&self) -> String {
        format!("tool {}", self.name())
    }
}

struct Echo;

impl Tool for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    #[traced_run(kind = "tool", name = "echo")]
    fn call(&self, input: String, run: &RunManager) -> Result<String, CallbackError> {
        run.on_text(&input)?;
        Ok(input)
    }
}

struct Shout;

impl Tool for Shout {
    fn name(&self) -> &str {
        "shout"
    }

    #[traced_run(kind = "tool")]
    fn call(&self, input: String) -> Result<String, CallbackError> {
        Ok(input.to_uppercase())
    }
}

#[traced_run(kind = "agent")]
fn agent(tools: &[Box<dyn Tool>], input: String, run: &RunManager) -> Result<Vec<String>, CallbackError> {
    tools.iter().map(|tool| tool.call(input.clone(), run)).collect()
}

impl serde::Serialize for dyn Tool {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let tools: Vec<Box<dyn Tool>> = vec![Box::new(Echo), Box::new(Shout)];
    assert_eq!(agent(&tools, "hi".into(), &callbacks).unwrap(), ["hi", "HI"]);
    assert_eq!(tools[1].describe(&callbacks), "tool shout");
    let names: Vec<String> = recorder.runs().into_iter().map(|run| run.name.into_owned()).collect();
    assert_eq!(names, ["agent", "echo", "Shout::call", "Shout::describe"]);
    let runs = recorder.runs();
    assert_eq!(runs[1].parent_run_id, Some(runs[0].run_id));
}
