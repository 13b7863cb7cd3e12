//! Three agent runs in flight at once, sharing one chat model and one set of tools, each
//! with callbacks of its own: every request's recorder sees its own run tree and nothing
//! else, while a handler given to the model's constructor sees only the model's runs.
//!
//! ```text
//! cargo run --example agent
//! ```

use std::sync::Arc;
use std::time::Duration;

use runtrace::event::{AgentAction, AgentFinish};
use runtrace::prelude::*;
use runtrace::tracer::RunCollector;

#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("tool `{0}` does not exist")]
    UnknownTool(String),
    #[error("the agent gave up after {0} steps")]
    TooManySteps(usize),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// A tool the agent can call. Traced methods take their parent as `&dyn AsParent`, so
/// `Arc<dyn Tool>` works and each call is a child run of the agent.
trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    fn call(&self, input: &str, parent: &dyn AsParent) -> String;
}

struct Calculator;

impl Tool for Calculator {
    fn name(&self) -> &'static str {
        "calculator"
    }

    /// Multiplies or adds two numbers: `12 * 7`, `2 + 2`.
    #[traced_run(kind = "tool", name = "calculator")]
    fn call(&self, input: &str, run: &RunManager) -> String {
        let (op, split) = if input.contains('*') { ('*', '*') } else { ('+', '+') };
        let numbers: Vec<f64> = input.split(split).filter_map(|n| n.trim().parse().ok()).collect();
        let result: f64 = if op == '*' { numbers.iter().product() } else { numbers.iter().sum() };
        let _ = run.on_text(&format!("{input} = {result}"));
        result.to_string()
    }
}

struct Search;

impl Tool for Search {
    fn name(&self) -> &'static str {
        "search"
    }

    #[traced_run(kind = "tool", name = "search")]
    fn call(&self, input: &str) -> String {
        match input {
            q if q.contains("Dune") => "Dune was written by Frank Herbert (1965).".into(),
            _ => "No results.".into(),
        }
    }
}

/// A chat model that streams scripted replies; its constructor callbacks hear its own runs.
struct FakeChatModel {
    callbacks: CallbackManager,
}

impl FakeChatModel {
    #[traced_run(kind = "chat_model", callbacks = self.callbacks, metadata(model = "fake-chat-1"))]
    async fn generate(&self, messages: Vec<String>, run: &RunManager) -> Result<String, AgentError> {
        let reply = script(&messages);
        for token in reply.split_inclusive(' ') {
            tokio::time::sleep(Duration::from_millis(5)).await;
            run.on_llm_new_token(token)?;
        }
        Ok(reply)
    }
}

/// The model's "reasoning": call a tool first, answer once an observation came back.
fn script(messages: &[String]) -> String {
    let question = &messages[0];
    match messages.iter().find_map(|m| m.strip_prefix("Observation: ")) {
        Some(observation) => format!("Final Answer: {observation}"),
        None if question.contains("Dune") => "Action: search[who wrote Dune]".into(),
        None => {
            let expression: String = question.chars().filter(|c| c.is_ascii_digit() || "+* ".contains(*c)).collect();
            format!("Action: calculator[{}]", expression.trim())
        }
    }
}

/// The agent loop: ask the model, run the tool it picks, until it answers.
#[traced_run(kind = "agent", skip(model, tools))]
async fn agent(
    question: String,
    model: &FakeChatModel,
    tools: &[Arc<dyn Tool>],
    run: &RunManager,
) -> Result<String, AgentError> {
    let mut messages = vec![question];
    for _ in 0..4 {
        let reply = model.generate(messages.clone(), run).await?;
        if let Some(answer) = reply.strip_prefix("Final Answer: ") {
            run.on_agent_finish(AgentFinish::new(answer.into()).with_log(reply.clone()))?;
            return Ok(answer.to_owned());
        }
        let (tool_name, input) = reply
            .strip_prefix("Action: ")
            .and_then(|action| action.trim_end_matches(']').split_once('['))
            .unwrap_or(("?", ""));
        run.on_agent_action(AgentAction::new(tool_name, input.into()).with_log(reply.clone()))?;
        let tool = tools
            .iter()
            .find(|tool| tool.name() == tool_name)
            .ok_or_else(|| AgentError::UnknownTool(tool_name.into()))?;
        let observation = tool.call(input, run);
        messages.push(reply);
        messages.push(format!("Observation: {observation}"));
    }
    Err(AgentError::TooManySteps(4))
}

#[tokio::main]
async fn main() -> Result<(), AgentError> {
    let model_runs = Arc::new(RecordingHandler::new());
    let model = FakeChatModel { callbacks: CallbackManager::new().with_handler(model_runs.clone()) };
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(Calculator), Arc::new(Search)];

    let questions = ["What is 12 * 7?", "Who wrote Dune?", "What is 2 + 2?"];
    let requests = questions.map(|question| {
        // Each request has its own callbacks: here, a collector of its own run trees.
        let runs = RunCollector::new();
        let callbacks =
            CallbackManager::new().with_handler(Tracer::new(runs.clone())).with_metadata([("question", question)]);
        let (model, tools) = (&model, &tools);
        async move { (question, agent(question.into(), model, tools, &callbacks).await, runs) }
    });

    for (question, answer, runs) in futures::future::join_all(requests).await {
        println!("{question}  →  {}", answer?);
        for tree in runs.take() {
            print!("{}", tree.view());
        }
        println!();
    }
    let kinds: Vec<String> = model_runs.runs().iter().map(|run| run.kind.to_string()).collect();
    println!("the model's own handler heard {} runs: {}", kinds.len(), kinds.join(", "));
    Ok(())
}
