//! A LangSmith stand-in on a loopback port: it records every request and answers the ingest
//! endpoints as scripted (a status, with or without `Retry-After`, no answer, a closed
//! connection), then `202 Accepted` once the script is done. `GET /info` answers with the
//! `batch_ingest_config` it was given.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer to a request to `/runs/...`.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    StatusRetryAfter(u16, String),
    Hang,
    Close,
}

/// A request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The names of the multipart parts of the body, in order.
    pub fn part_names(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .split("Content-Disposition: form-data; name=\"")
            .skip(1)
            .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
            .collect()
    }

    /// How many runs the request posted, whichever endpoint it went to.
    pub fn runs(&self) -> usize {
        if self.path.ends_with("/runs/batch") {
            let body: Value = serde_json::from_slice(&self.body).unwrap_or_default();
            return body["post"].as_array().map_or(0, Vec::len);
        }
        self.part_names().iter().filter(|name| name.matches('.').count() == 1).count()
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Request>,
}

/// The stand-in; dropped, it stops accepting.
pub struct Capture {
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Capture {
    /// A stand-in whose `/info` gives `batch_ingest_config` (`None`: `/info` is a 404).
    pub async fn start(batch_ingest_config: Option<Value>, script: impl IntoIterator<Item = Reply>) -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let state = Arc::new(Mutex::new(State { script: script.into_iter().collect(), requests: Vec::new() }));
        let shared = Arc::clone(&state);
        let info = batch_ingest_config.map(|config| json!({ "version": "0.10.0", "batch_ingest_config": config }));
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared), info.clone()));
            }
        });
        Capture { url, state, server }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).requests.clone()
    }

    /// The requests to the ingest endpoints.
    pub fn ingests(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|request| request.path.starts_with("/runs/")).collect()
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, info: Option<Value>) {
    let mut data = Vec::new();
    let mut buf = [0_u8; 16 * 1024];
    loop {
        let Some(request) = read_request(&mut stream, &mut data, &mut buf).await else { return };
        let reply = if request.path.starts_with("/runs/") {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.requests.push(request.clone());
            state.script.pop_front().unwrap_or(Reply::Status(202))
        } else {
            state.lock().unwrap_or_else(PoisonError::into_inner).requests.push(request.clone());
            match (&request.path[..], &info) {
                ("/info", Some(info)) => {
                    let body = info.to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if stream.write_all(format!("{head}{body}").as_bytes()).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ => Reply::Status(404),
            }
        };
        let (status, retry_after) = match reply {
            Reply::Status(status) => (status, None),
            Reply::StatusRetryAfter(status, after) => (status, Some(after)),
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Reply::Close => return,
        };
        let retry = retry_after.map(|after| format!("retry-after: {after}\r\n")).unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 {status} Scripted\r\n{retry}content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream, data: &mut Vec<u8>, buf: &mut [u8]) -> Option<Request> {
    loop {
        if let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let mut lines = head.lines();
            let mut request_line = lines.next()?.split(' ');
            let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                .collect();
            let length = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let body = data[end + 4..end + 4 + length].to_vec();
                data.drain(..end + 4 + length);
                return Some(Request { method, path, headers, body });
            }
        }
        match stream.read(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
