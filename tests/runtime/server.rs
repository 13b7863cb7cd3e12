//! The server example's server (`runtrace_example_server`) over real HTTP on 127.0.0.1: each
//! client gets exactly its own tokens, the shared tracer gets every request's whole tree, and a
//! client that hangs up cancels its run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use runtrace::event::ErrorCause;
use runtrace::handlers::RecordingHandler;
use runtrace::tracer::{RunCollector, RunTree, Tracer};
use runtrace::{CallbackManager, EventData, RunId, RunKind};
use runtrace_example_server::{AppState, app};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for a test gone wrong to fail rather than hang; never reached when it passes.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// Serves `state` on an ephemeral port of 127.0.0.1, for as long as the test's runtime lives.
pub(crate) async fn start_server(state: AppState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("the listener's address");
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    address
}

/// A server whose runs a tracer and a recorder both hear, for the tests that cut a request
/// short: see [`assert_cancelled`](Recorded::assert_cancelled).
pub(crate) struct Recorded {
    pub(crate) address: SocketAddr,
    collector: RunCollector,
    tracer: Tracer,
    recorder: Arc<RecordingHandler>,
}

impl Recorded {
    pub(crate) async fn start() -> Recorded {
        let collector = RunCollector::new();
        let tracer = Tracer::new(collector.clone());
        let recorder = Arc::new(RecordingHandler::new());
        let state = AppState { callbacks: CallbackManager::new().with_handler(&tracer).with_handler(recorder.clone()) };
        let address = start_server(state).await;
        Recorded { address, collector, tracer, recorder }
    }

    /// Waits (at most [`DEADLINE`]) for the one tree of a request whose client left while the
    /// model streamed, and checks it was cut short: the agent and the model cancelled, the
    /// calculator ended, every start with exactly one end or error, no run left open.
    pub(crate) async fn assert_cancelled(&self) {
        let tree = tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(tree) = self.collector.trees().pop() {
                    break tree;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the run was never cancelled");
        let model = tree.find("fake_llm").expect("the model run");
        assert!(model.token_count() < 600, "the model streamed its whole answer");
        for run in [&tree, model] {
            let error = run.error.as_deref().unwrap_or_else(|| panic!("{} ended without error", run.name));
            assert!(error.starts_with("cancelled"), "{}: {error}", run.name);
        }
        assert_eq!(tree.find("calculator").and_then(|run| run.error.as_deref()), None);
        assert_eq!(self.tracer.open_runs(), 0);

        let events = self.recorder.events();
        for run in self.recorder.runs() {
            let endings: Vec<&EventData<'_>> = events
                .iter()
                .filter(|event| event.run.run_id == run.run_id)
                .map(|event| &event.data)
                .filter(|data| matches!(data, EventData::End(_) | EventData::Error(_)))
                .collect();
            match (&*run.name, endings.as_slice()) {
                ("calculator", [EventData::End(_)]) => {}
                ("agent" | "fake_llm", [EventData::Error(error)]) => assert_eq!(error.cause, ErrorCause::Cancelled),
                (name, endings) => panic!("{name} ended with {endings:?}"),
            }
        }
        assert_eq!(self.recorder.runs().len(), 3);
    }
}

/// One Server-Sent Event: its name and its data.
#[derive(Debug)]
struct Sse {
    event: String,
    data: String,
}

/// A hand-written HTTP/1.1 client for one `POST /chat`, reading the response's event stream.
struct ChatStream {
    reader: BufReader<TcpStream>,
    chunked: bool,
    pending: Vec<u8>,
    finished: bool,
}

impl ChatStream {
    async fn post(address: SocketAddr, question: &str) -> std::io::Result<ChatStream> {
        let body = serde_json::json!({ "question": question }).to_string();
        let mut stream = TcpStream::connect(address).await?;
        let request = format!(
            "POST /chat HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Accept: text/event-stream\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(stream);

        let mut line = String::new();
        reader.read_line(&mut line).await?;
        assert!(line.starts_with("HTTP/1.1 200"), "unexpected status line {line:?}");
        let (mut chunked, mut event_stream) = (false, false);
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 || line == "\r\n" {
                break;
            }
            let header = line.to_ascii_lowercase();
            chunked |= header.starts_with("transfer-encoding:") && header.contains("chunked");
            event_stream |= header.starts_with("content-type:") && header.contains("text/event-stream");
        }
        assert!(event_stream, "the response is not an event stream");
        Ok(ChatStream { reader, chunked, pending: Vec::new(), finished: false })
    }

    /// The next event, or `None` once the response is over.
    async fn next(&mut self) -> std::io::Result<Option<Sse>> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.pending.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("the event stream is UTF-8");
                let mut sse = Sse { event: "message".to_owned(), data: String::new() };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(event) = line.strip_prefix("event:") {
                        sse.event = event.trim_start().to_owned();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        if has_data {
                            sse.data.push('\n');
                        }
                        sse.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                        has_data = true;
                    }
                }
                if has_data {
                    return Ok(Some(sse));
                }
                continue; // a comment, such as a keep-alive
            }
            if self.finished || !self.read_more().await? {
                self.finished = true;
                assert!(self.pending.is_empty(), "the stream ended inside an event: {:?}", self.pending);
                return Ok(None);
            }
        }
    }

    /// Appends the next piece of the body to `pending`; `false` at its end.
    async fn read_more(&mut self) -> std::io::Result<bool> {
        if !self.chunked {
            let mut buffer = [0; 4096];
            let read = self.reader.read(&mut buffer).await?;
            self.pending.extend_from_slice(&buffer[..read]);
            return Ok(read > 0);
        }
        let mut size = String::new();
        if self.reader.read_line(&mut size).await? == 0 {
            return Ok(false);
        }
        let size = size.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16).expect("a chunk size");
        if size == 0 {
            return Ok(false);
        }
        let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
        self.reader.read_exact(&mut chunk).await?;
        assert_eq!(&chunk[size..], b"\r\n", "a chunk not ended by CRLF");
        self.pending.extend_from_slice(&chunk[..size]);
        Ok(true)
    }
}

/// A `token` event's data.
struct Token {
    run_id: RunId,
    kind: RunKind,
    token: String,
}

fn token(data: &str) -> Token {
    let data: Value = serde_json::from_str(data).expect("token data is JSON");
    Token {
        run_id: data["run_id"].as_str().expect("a run id").parse().expect("a run id"),
        kind: serde_json::from_value(data["kind"].clone()).expect("a run kind"),
        token: data["token"].as_str().expect("a token").to_owned(),
    }
}

/// What one client saw.
pub(crate) struct Reply {
    pub(crate) question: String,
    /// The model run its tokens came from.
    pub(crate) run_id: RunId,
    pub(crate) tokens: Vec<String>,
}

/// Asks `question` and reads the whole reply, checking that it holds exactly the tokens of the
/// answer `expected`, in order, from one model run, then the answer itself, and nothing else.
async fn ask(address: SocketAddr, question: String, expected: String) -> Reply {
    let expected = expected.as_str();
    let mut stream = ChatStream::post(address, &question).await.expect("POST /chat");
    let mut events = Vec::new();
    while let Some(event) = stream.next().await.expect("read the event stream") {
        events.push(event);
    }
    let Some((last, tokens)) = events.split_last() else { panic!("{question}: an empty reply") };
    assert_eq!(last.event, "answer", "{question}: the reply does not end with the answer: {last:?}");
    let answer: Value = serde_json::from_str(&last.data).expect("answer data is JSON");
    assert_eq!(answer["answer"], expected, "{question}");

    let tokens: Vec<Token> = tokens
        .iter()
        .map(|event| {
            assert_eq!(event.event, "token", "{question}: unexpected event {event:?}");
            token(&event.data)
        })
        .collect();
    let run_id = tokens.first().map(|token| token.run_id).expect("at least one token");
    assert!(tokens.iter().all(|token| token.run_id == run_id && token.kind == RunKind::Llm), "{question}");
    let tokens: Vec<String> = tokens.into_iter().map(|token| token.token).collect();
    assert_eq!(tokens, expected.split_inclusive(' ').collect::<Vec<_>>(), "{question}");
    Reply { question, run_id, tokens }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_each_get_exactly_their_own_tokens() {
    let (trees, replies) = ask_concurrently(200, ask).await;
    for reply in &replies {
        let tree = trees
            .iter()
            .find(|tree| tree.inputs.get("question").and_then(Value::as_str) == Some(&reply.question))
            .unwrap_or_else(|| panic!("no tree for {:?}", reply.question));
        assert_complete(tree, reply);
    }
}

/// `agent > (calculator, fake_llm)`, each ended without error, linked by ids, and the model's
/// tokens exactly the ones its client got.
pub(crate) fn assert_complete(tree: &RunTree, reply: &Reply) {
    let shape: Vec<(&str, RunKind, Option<RunId>)> =
        tree.runs().map(|run| (run.name.as_str(), run.run_type, run.parent_run_id)).collect();
    assert_eq!(
        shape,
        [
            ("agent", RunKind::Chain, None),
            ("calculator", RunKind::Tool, Some(tree.id)),
            ("fake_llm", RunKind::Llm, Some(tree.id))
        ],
        "{}",
        reply.question
    );
    for run in tree.runs() {
        assert!(run.end_time.is_some() && run.error.is_none(), "{} did not end well: {run:?}", run.name);
        assert_eq!(run.trace_id, tree.id);
    }
    let model = &tree.child_runs[1];
    assert_eq!(model.id, reply.run_id, "{}: the tokens came from another run", reply.question);
    let streamed: Vec<&str> =
        model.events.iter().filter_map(|event| event.kwargs.get("token").and_then(Value::as_str)).collect();
    assert_eq!(streamed, reply.tokens, "{}", reply.question);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_its_run() {
    let server = Recorded::start().await;

    let mut stream = ChatStream::post(server.address, &long_question()).await.expect("POST /chat");
    let first = stream.next().await.expect("read the event stream").expect("a first event");
    assert_eq!(first.event, "token");
    drop(stream); // the client hangs up

    server.assert_cancelled().await;
}

/// Serves a fresh server with one shared tracer, has `count` clients `ask` it [`questions`] at
/// once, each waiting for its whole reply, and checks that the tracer then holds one finished
/// tree per client (every root ends before its client reads the answer, so each is exported
/// by then) and no open run.
pub(crate) async fn ask_concurrently<R, Fut>(
    count: i64,
    ask: fn(SocketAddr, String, String) -> Fut,
) -> (Vec<RunTree>, Vec<R>)
where
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let collector = RunCollector::new();
    let tracer = Tracer::new(collector.clone());
    let address = start_server(AppState::new(&tracer)).await;
    let clients: Vec<_> =
        questions(count).map(|(question, expected)| tokio::spawn(ask(address, question, expected))).collect();
    let replies = tokio::time::timeout(DEADLINE, futures::future::join_all(clients)).await.expect("replies in time");
    let replies: Vec<R> = replies.into_iter().map(|reply| reply.expect("a client panicked")).collect();
    let trees = collector.trees();
    assert_eq!(trees.len(), replies.len());
    assert_eq!(tracer.open_runs(), 0);
    (trees, replies)
}

/// `count` questions and their answers, from 2 to 6 terms, so that answers differ in length as
/// well as in content.
pub(crate) fn questions(count: i64) -> impl Iterator<Item = (String, String)> {
    (0..count).map(|client| {
        let terms: Vec<i64> = (0..2 + client % 5).map(|term| client * 1000 + term).collect();
        let sum = terms.iter().map(i64::to_string).collect::<Vec<_>>().join(" + ");
        (format!("What is {sum}?"), format!("{sum} = {}", terms.iter().sum::<i64>()))
    })
}

/// 300 terms: about 600 tokens, some twenty seconds of streaming if nobody stopped it.
pub(crate) fn long_question() -> String {
    let sum = (1..=300).map(|n: i64| n.to_string()).collect::<Vec<_>>().join(" + ");
    format!("What is {sum}?")
}
