//! The chat server of runtrace's server example, which `examples/server.rs` runs and the
//! runtime's tests call over HTTP: `POST /chat` runs an agent (a calculator tool, then a
//! streaming model) and streams the model's tokens back to its client as Server-Sent Events.
//!
//! Two scopes of callbacks meet in each request, as in LangChain's server story:
//! - one tracer, shared by every request ([`AppState::new`]), records every run of every
//!   request;
//! - a request-scoped [`ChannelHandler`], made per request, forwards that request's tokens into
//!   the channel its response reads from, so no client ever sees another's tokens.
//!
//! A client that hangs up drops its response stream, which drops the agent's future: every run
//! still open ends with a "cancelled" error event, and the tracer exports the cut-short tree.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::post;
use futures::Stream;
use runtrace::handlers::{ChannelHandler, StreamEvent};
use runtrace::prelude::*;
use runtrace::tracer::Tracer;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

/// How long the fake model takes per token.
const TOKEN_PACE: Duration = Duration::from_millis(40);

/// Room for a long answer's tokens. The channel handler never waits, so a client that reads
/// slowly never stalls the model; past this many unread tokens, new ones would be dropped.
const TOKEN_BUFFER: usize = 1024;

/// Why the agent could not answer; sent to the client as an `error` event.
#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("I can only add numbers, as in \"What is 17 + 25?\"")]
    NoSum,
    #[error("`{0}` is not a number I can add")]
    NotANumber(String),
    #[error("that sum is too big for me")]
    Overflow,
    #[error("the model's prompt has no observation to answer from")]
    NoObservation,
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// Adds up `a + b + ...`.
#[traced_run(kind = "tool")]
async fn calculator(expression: String) -> Result<i64, AgentError> {
    expression.split('+').try_fold(0_i64, |sum, term| {
        let term = term.trim();
        let n: i64 = term.parse().map_err(|_| AgentError::NotANumber(term.to_owned()))?;
        sum.checked_add(n).ok_or(AgentError::Overflow)
    })
}

/// A stand-in for a streaming model: it answers with the observation in its prompt, word by
/// word, at a model's pace.
#[traced_run(kind = "llm")]
async fn fake_llm(prompt: String, run: &RunManager) -> Result<String, AgentError> {
    let answer = prompt.lines().find_map(|line| line.strip_prefix("Observation: ")).ok_or(AgentError::NoObservation)?;
    for token in answer.split_inclusive(' ') {
        tokio::time::sleep(TOKEN_PACE).await;
        run.on_llm_new_token(token)?;
    }
    Ok(answer.to_owned())
}

/// Finds the sum in the question, has the calculator work it out, and lets the model answer.
#[traced_run(kind = "chain")]
async fn agent(question: String, run: &RunManager) -> Result<String, AgentError> {
    let sum: String = question.chars().filter(|c| c.is_ascii_digit() || matches!(c, '+' | ' ')).collect();
    let expression = sum.split_whitespace().collect::<Vec<_>>().join(" ");
    if !expression.contains(|c: char| c.is_ascii_digit()) {
        return Err(AgentError::NoSum);
    }
    let total = calculator(expression.clone(), run).await?;
    let prompt = format!(
        "Question: {question}\nThought: I should use the calculator.\nAction: calculator({expression})\n\
         Observation: {expression} = {total}\nAnswer:"
    );
    fake_llm(prompt, run).await
}

/// What every request shares.
#[derive(Clone)]
pub struct AppState {
    /// The callbacks of every request, shared by all of them: one tracer, as `new` makes them.
    pub callbacks: CallbackManager,
}

impl AppState {
    /// Every request reports to `tracer`.
    pub fn new(tracer: &Tracer) -> Self {
        AppState { callbacks: CallbackManager::new().with_handler(tracer) }
    }
}

/// The body of `POST /chat`.
#[derive(Deserialize)]
struct ChatRequest {
    /// Something like "What is 17 + 25?".
    question: String,
}

/// The server's routes.
pub fn app(state: AppState) -> Router {
    Router::new().route("/chat", post(chat)).with_state(state)
}

/// Streams the tokens of the answer as `token` events (`{"run_id", "kind", "token"}`), then
/// the whole `answer` (or an `error`).
async fn chat(
    State(state): State<AppState>,
    Json(request): Json<ChatRequest>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (sender, tokens) = mpsc::channel(TOKEN_BUFFER);
    // Request callbacks: the shared tracer plus this request's own channel, inherited by
    // every run the agent starts.
    let callbacks = state.callbacks.clone().with_handler(ChannelHandler::bounded(sender));
    let answer = async move { agent(request.question, &callbacks).await };
    Sse::new(reply(answer, tokens)).keep_alive(KeepAlive::default())
}

/// The response stream. It owns the agent's future and drives it while it is read: when the
/// client goes away, the stream is dropped with the future in it, which cancels the runs.
fn reply<F>(answer: F, tokens: mpsc::Receiver<StreamEvent>) -> impl Stream<Item = Result<SseEvent, Infallible>>
where
    F: Future<Output = Result<String, AgentError>> + Send + 'static,
{
    let reply = Reply { answer: Some(Box::pin(answer)), tokens, outcome: None };
    futures::stream::unfold(reply, |mut reply| async move {
        let event = reply.next().await?;
        Some((Ok(event), reply))
    })
}

struct Reply<F> {
    answer: Option<Pin<Box<F>>>,
    tokens: mpsc::Receiver<StreamEvent>,
    outcome: Option<Result<String, AgentError>>,
}

impl<F: Future<Output = Result<String, AgentError>>> Reply<F> {
    /// The next event to send: a token as soon as the model streams it, the outcome last.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let event = match &mut self.answer {
                Some(answer) => tokio::select! {
                    biased;
                    Some(event) = self.tokens.recv() => event,
                    outcome = answer => {
                        self.answer = None;
                        self.outcome = Some(outcome);
                        continue;
                    }
                },
                // The agent is done, so every token it streamed is in the channel already.
                None => match self.tokens.try_recv() {
                    Ok(event) => event,
                    Err(_) => return self.outcome.take().map(outcome_event),
                },
            };
            if let Some(event) = token_event(&event) {
                return Some(event);
            }
        }
    }
}

fn outcome_event(outcome: Result<String, AgentError>) -> SseEvent {
    match outcome {
        Ok(answer) => SseEvent::default().event("answer").data(json!({ "answer": answer }).to_string()),
        Err(error) => SseEvent::default().event("error").data(json!({ "error": error.to_string() }).to_string()),
    }
}

fn token_event(event: &StreamEvent) -> Option<SseEvent> {
    let StreamEvent::Token { run, token } = event else { return None };
    let data = json!({ "run_id": run.run_id, "kind": run.kind, "token": token });
    Some(SseEvent::default().event("token").data(data.to_string()))
}
