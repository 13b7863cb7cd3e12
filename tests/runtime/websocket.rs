//! The server example's WebSocket route (`GET /chat/ws`) over real WebSockets on 127.0.0.1,
//! with a real client (`tokio-tungstenite`): each socket gets exactly its own tokens in order
//! and the answer after all of them, the shared tracer gets every request's whole tree under
//! the run id the answer names, and a client that closes its socket cancels its run.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use runtrace::RunId;
use runtrace::tracer::{RunCollector, Tracer};
use runtrace_example_server::AppState;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::server::{DEADLINE, Recorded, Reply, ask_concurrently, assert_complete, long_question, start_server};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket to `/chat/ws` and asks `question`.
async fn ask_over_socket(address: SocketAddr, question: &str) -> Socket {
    let (mut socket, _) = connect_async(format!("ws://{address}/chat/ws")).await.expect("the WebSocket handshake");
    let message = json!({ "question": question }).to_string();
    socket.send(Message::text(message)).await.expect("send the question");
    socket
}

/// The next JSON text frame, or `None` once the server closed the socket.
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("a JSON frame")),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(error) => panic!("reading the socket: {error}"),
        }
    }
}

/// Asks `question` and reads every frame: exactly the tokens of `expected`, in order, from one
/// model run, then the answer, then the close. Returns what it saw and the root run id the
/// answer named.
async fn ask(address: SocketAddr, question: String, expected: String) -> (Reply, RunId) {
    let expected = expected.as_str();
    let mut socket = ask_over_socket(address, &question).await;
    let mut frames = Vec::new();
    while let Some(frame) = next_frame(&mut socket).await {
        frames.push(frame);
    }
    let Some((answer, tokens)) = frames.split_last() else { panic!("{question}: no frame") };
    assert_eq!(answer["type"], "answer", "{question}: the last frame is not the answer: {answer}");
    assert_eq!(answer["answer"], expected, "{question}");
    let root: RunId = serde_json::from_value(answer["run_id"].clone()).expect("the answer names its run");

    assert!(tokens.iter().all(|frame| frame["type"] == "token"), "{question}: {tokens:?}");
    let run_id = tokens.first().map(|frame| frame["run_id"].clone()).expect("at least one token");
    assert!(tokens.iter().all(|frame| frame["run_id"] == run_id && frame["kind"] == "llm"), "{question}");
    let tokens: Vec<String> = tokens.iter().map(|frame| frame["token"].as_str().expect("a token").to_owned()).collect();
    assert_eq!(tokens, expected.split_inclusive(' ').collect::<Vec<_>>(), "{question}");
    let run_id = serde_json::from_value(run_id).expect("a run id");
    (Reply { question, run_id, tokens }, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sockets_each_get_exactly_their_own_tokens_then_the_answer() {
    let (trees, replies) = ask_concurrently(200, ask).await;
    for reply in replies {
        let (reply, root) = reply;
        let tree = trees.iter().find(|tree| tree.id == root).unwrap_or_else(|| panic!("no tree {root}"));
        assert_eq!(tree.inputs.get("question").and_then(Value::as_str), Some(reply.question.as_str()));
        assert_complete(tree, &reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_its_socket_cancels_its_run() {
    let server = Recorded::start().await;

    let mut socket = ask_over_socket(server.address, &long_question()).await;
    let first = tokio::time::timeout(DEADLINE, next_frame(&mut socket)).await.expect("a first frame in time");
    assert_eq!(first.expect("a first frame")["type"], "token");
    socket.close(None).await.expect("close the socket");

    server.assert_cancelled().await;
}

#[tokio::test]
async fn a_frame_that_is_not_a_question_gets_an_error_frame_and_starts_no_run() {
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let address = start_server(AppState::new(&tracer)).await;
    let (mut socket, _) = connect_async(format!("ws://{address}/chat/ws")).await.expect("the WebSocket handshake");
    socket.send(Message::text("What is 1 + 1?")).await.expect("send");
    let frame = tokio::time::timeout(DEADLINE, next_frame(&mut socket)).await.expect("a frame in time");
    assert_eq!(frame.expect("an error frame")["type"], "error");
    assert_eq!(tracer.open_runs(), 0);
    assert!(collector.trees().is_empty());
}
