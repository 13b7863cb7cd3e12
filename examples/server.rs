//! A chat server: an agent (a calculator tool, then a streaming model) answers each client's
//! question and streams the model's tokens back to that client alone, then the answer: as
//! Server-Sent Events on `POST /chat`, or as JSON frames on the WebSocket `GET /chat/ws`.
//!
//! The server, its routes and its agent, is the crate in `examples/server-app/`
//! (`runtrace_example_server`), which its tests use too. This program serves it with the
//! callbacks every request shares: one tracer, which appends every run of every request to
//! `runs.jsonl` and prints a line per request. Each request streams its own events with
//! `runtrace::events::stream_events`, which adds a handler of that request's own; a client
//! that hangs up or closes its socket cancels its runs, and the tracer exports the cut-short
//! tree. The answer names the request's root run id, chosen with `CallbackManager::with_run_id`.
//!
//! ```text
//! cargo run --example server
//! curl -N http://127.0.0.1:3000/chat -H 'content-type: application/json' -d '{"question": "What is 17 + 25?"}'
//! websocat ws://127.0.0.1:3000/chat/ws   # then type {"question": "What is 17 + 25?"}
//! ```

use runtrace::tracer::{ExportError, Exporter, JsonlExporter, RunTree, Tracer};
use runtrace_example_server::{AppState, app};

/// One line per finished request.
struct Summary;

impl Exporter for Summary {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        let runs = tree.runs().count();
        let tokens: usize = tree.runs().map(RunTree::token_count).sum();
        let millis = tree.duration().unwrap_or_default().as_millis();
        match &tree.error {
            None => println!("{} ok: {runs} runs, {tokens} tokens streamed, {millis} ms", tree.name),
            Some(error) => println!("{} failed after {tokens} tokens, {millis} ms: {error}", tree.name),
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracer = Tracer::new((JsonlExporter::open("runs.jsonl")?, Summary));
    let port = std::env::var("PORT").ok().and_then(|port| port.parse().ok()).unwrap_or(3000_u16);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    println!("listening on http://{address}; every run is appended to runs.jsonl");
    println!(
        "try: curl -N http://{address}/chat -H 'content-type: application/json' -d '{{\"question\": \"What is 17 + 25?\"}}'"
    );
    axum::serve(listener, app(AppState::new(&tracer)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    runtrace::flush().await;
    Ok(())
}
