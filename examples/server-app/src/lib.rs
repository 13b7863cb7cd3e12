//! The chat server of runtrace's server example, which `examples/server.rs` runs and the
//! runtime's tests call over HTTP and WebSockets: an agent (a calculator tool, then a
//! streaming model) answers a question, and the model's tokens are streamed to the client
//! that asked, then the answer.
//! - `POST /chat` with `{"question": "..."}` streams them as Server-Sent Events: `token`
//!   events, then an `answer` (or an `error`);
//! - `GET /chat/ws` upgrades to a WebSocket: the client sends its question as a text frame
//!   (the same JSON), and receives one JSON text frame per token (`"type": "token"`), then the
//!   answer (`"type": "answer"`, or `"error"`), after which the server closes the socket.
//!
//! Two scopes of callbacks meet in each request, as in LangChain's server story:
//! - one tracer, shared by every request ([`AppState::new`]), records every run of every
//!   request;
//! - [`stream_events`] adds a handler of the request's own, so the request's response reads
//!   exactly its own tokens, never another's, and the answer only after all of them.
//!
//! Each request's root run gets an id chosen here ([`CallbackManager::with_run_id`]), sent
//! with the answer, so a client can refer to its run later (to leave feedback, say).
//! A client that hangs up (or closes its socket) drops its event stream, which drops the
//! agent's future: every run still open ends with a "cancelled" error event, and the tracer
//! exports the cut-short tree.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Json, State};
use axum::response::Response;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use futures::{SinkExt, Stream, StreamExt};
use runtrace::RunId;
use runtrace::events::{Item, stream_events};
use runtrace::prelude::*;
use runtrace::tracer::Tracer;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long the fake model takes per token.
const TOKEN_PACE: Duration = Duration::from_millis(40);

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

/// What a client asks: the body of `POST /chat`, the first frame on `GET /chat/ws`.
#[derive(Deserialize)]
struct ChatRequest {
    /// Something like "What is 17 + 25?".
    question: String,
}

/// The server's routes.
pub fn app(state: AppState) -> Router {
    Router::new().route("/chat", post(chat)).route("/chat/ws", get(chat_socket)).with_state(state)
}

/// One message to a client: a `token` (`{"run_id", "kind", "token"}`), then the `answer`
/// (`{"answer", "run_id"}`) or an `error` (`{"error", "run_id"}`).
struct Frame {
    name: &'static str,
    data: Value,
}

/// The agent answering `question`, run as it is read: the model's tokens, then the answer.
/// Dropping it cancels the agent.
fn answer(state: &AppState, question: String) -> impl Stream<Item = Frame> + Send + use<> {
    let run_id = RunId::random();
    let callbacks = state.callbacks.clone().with_run_id(run_id);
    stream_events(&callbacks, |callbacks| async move { agent(question, &callbacks).await })
        .with_include_kinds([RunKind::Llm])
        .filter_map(move |item| std::future::ready(frame(item, run_id)))
}

fn frame(item: Item<Result<String, AgentError>>, root: RunId) -> Option<Frame> {
    Some(match item {
        Item::Event(event) => {
            let token = event.chunk()?;
            Frame { name: "token", data: json!({ "run_id": event.run_id, "kind": event.kind, "token": token }) }
        }
        Item::Output(Ok(answer)) => Frame { name: "answer", data: json!({ "answer": answer, "run_id": root }) },
        Item::Output(Err(error)) => {
            Frame { name: "error", data: json!({ "error": error.to_string(), "run_id": root }) }
        }
    })
}

/// `POST /chat`: the frames as Server-Sent Events, each named for its frame.
async fn chat(
    State(state): State<AppState>,
    Json(request): Json<ChatRequest>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = answer(&state, request.question)
        .map(|frame| Ok(SseEvent::default().event(frame.name).data(frame.data.to_string())));
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// `GET /chat/ws`: the question in the first text frame, the frames back as JSON text frames
/// with their name in `type`.
async fn chat_socket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| answer_over(socket, state))
}

async fn answer_over(socket: WebSocket, state: AppState) {
    let (mut sender, mut receiver) = socket.split();
    let question = loop {
        match receiver.next().await {
            Some(Ok(Message::Text(text))) => break serde_json::from_str::<ChatRequest>(&text).map(|r| r.question),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            Some(Ok(_)) => {} // pings and the like
        }
    };
    let question = match question {
        Ok(question) => question,
        Err(error) => {
            let frame = json!({ "type": "error", "error": format!("expected {{\"question\": \"...\"}}: {error}") });
            let _ = sender.send(Message::text(frame.to_string())).await;
            let _ = sender.send(Message::Close(None)).await;
            return;
        }
    };
    let mut frames = std::pin::pin!(answer(&state, question));
    loop {
        tokio::select! {
            frame = frames.next() => {
                let Some(Frame { name, data: mut message }) = frame else { break };
                message["type"] = name.into();
                if sender.send(Message::text(message.to_string())).await.is_err() {
                    return; // the client is gone: dropping `frames` cancels the agent
                }
            }
            // Anything but a close from the client is ignored; a close, or the connection
            // lost, returns, and dropping `frames` cancels the agent.
            message = receiver.next() => if matches!(message, None | Some(Err(_) | Ok(Message::Close(_)))) {
                return;
            }
        }
    }
    let _ = sender.send(Message::Close(None)).await;
}
