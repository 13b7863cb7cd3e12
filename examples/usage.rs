//! Tokens and cost: a fake OpenAI-style client whose responses carry their usage, traced so
//! that every request's tokens and cost are counted with no code at the call, and a token
//! budget that stops a request that streams too much.
//!
//! Run it with `cargo run --example usage`.

use std::sync::Arc;
use std::time::Duration;

use runtrace::event::{Message, ModelOutput, ModelResponse, Usage};
use runtrace::handlers::{BudgetExceeded, Price, PriceTable, TokenBudget, UsageTracker};
use runtrace::prelude::*;

/// What the chat completions endpoint answers.
#[derive(serde::Serialize)]
struct ChatCompletion {
    id: String,
    model: String,
    content: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
}

/// Implemented once for the client's response type: every traced call returning it records
/// its usage and response.
impl ModelOutput for ChatCompletion {
    fn usage(&self) -> Option<Usage> {
        Some(Usage::new(self.prompt_tokens, self.completion_tokens).with_cache_read(self.cached_tokens))
    }

    fn response(&self) -> Option<ModelResponse> {
        Some(
            ModelResponse::new()
                .with_id(self.id.clone())
                .with_model(self.model.clone())
                .with_finish_reason("stop")
                .with_message(Message::new("assistant", self.content.clone())),
        )
    }
}

struct OpenAi {
    model: String,
}

impl OpenAi {
    /// One completion, answered whole.
    #[traced_run(kind = "chat_model", model = self.model, provider = "openai")]
    async fn complete(&self, prompt: String) -> Result<ChatCompletion, CallbackError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let content = format!("Here is a short answer to: {prompt}");
        Ok(ChatCompletion {
            id: "chatcmpl-7".into(),
            model: format!("{}-2024-07-18", self.model),
            prompt_tokens: 40 + prompt.len() as u64,
            completion_tokens: content.split(' ').count() as u64,
            cached_tokens: 32,
            content,
        })
    }

    /// A streamed completion: tokens as they come, the usage in the final chunk.
    #[traced_run(kind = "chat_model", model = self.model, provider = "openai")]
    async fn stream(&self, prompt: String, run: &RunManager) -> Result<String, CallbackError> {
        let mut answer = String::new();
        for token in "Tokens cost money , so this answer stops when the budget says so .".split(' ') {
            tokio::time::sleep(Duration::from_millis(5)).await;
            run.on_llm_new_token(token)?; // a budget may stop the stream here
            answer.push_str(token);
            answer.push(' ');
        }
        run.report_usage(Usage::new(prompt.len() as u64, 14))?;
        Ok(answer)
    }
}

#[traced_run(kind = "chain")]
async fn research(topic: String, run: &RunManager) -> Result<String, CallbackError> {
    let client = OpenAi { model: "gpt-4o-mini".into() };
    let outline = client.complete(format!("an outline about {topic}"), run).await?;
    let summary = client.complete(format!("a summary of {}", outline.content), run).await?;
    Ok(summary.content)
}

#[tokio::main]
async fn main() -> Result<(), CallbackError> {
    let prices = PriceTable::new()
        .with_model("gpt-4o-mini", Price::per_million(0.15, 0.60).with_cached_input(0.075))
        .with_model("gpt-4o", Price::per_million(2.50, 10.00).with_cached_input(1.25));

    // One tracker per request: its tokens and cost, apart from every other request's.
    for topic in ["tokio", "async Rust"] {
        let tracker = Arc::new(UsageTracker::new().with_prices(prices.clone()));
        research(topic.into(), &CallbackManager::new().with_handler(tracker.clone())).await?;
        println!("request about {topic}:");
        for (model, cost) in tracker.cost_by_model() {
            let dollars = cost.dollars.map_or_else(|| "unpriced".to_owned(), |dollars| format!("${dollars:.6}"));
            let usage = cost.usage;
            println!(
                "  {model}: {} in ({} cached) + {} out = {} tokens, {dollars}",
                usage.input_tokens,
                usage.cache_read_tokens.unwrap_or(0),
                usage.output_tokens,
                usage.total_tokens
            );
        }
    }

    // A budget of 8 streamed tokens: the stream is stopped at the ninth.
    let callbacks = CallbackManager::new().with_handler(TokenBudget::streamed(8)).with_handler(ConsoleHandler::new());
    let client = OpenAi { model: "gpt-4o".into() };
    match client.stream("Why do tokens cost money?".into(), &callbacks).await {
        Ok(answer) => println!("answer: {answer}"),
        Err(error) => match error.handler_error().and_then(|error| error.downcast_ref::<BudgetExceeded>()) {
            Some(exceeded) => println!("stopped: {exceeded}"),
            None => return Err(error),
        },
    }
    runtrace::flush().await;
    Ok(())
}
