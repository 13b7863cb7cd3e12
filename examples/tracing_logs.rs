//! A request's log lines under its runs: with the `tracing` bridge among the request's
//! callbacks, each run is a `tracing` span, current while its body runs, so every subscriber
//! shows each line inside the runs it happened in, even when the model call runs on another
//! task.
//!
//! ```text
//! cargo run --example tracing_logs          # tracing-tree: lines indented under their runs
//! cargo run --example tracing_logs -- fmt   # tracing_subscriber::fmt: runs before each line
//! ```

use std::sync::Arc;
use std::time::Duration;

use runtrace::handlers::TracingBridge;
use runtrace::prelude::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("the model task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// Looks a city's weather up, slowly.
#[traced_run(kind = "tool")]
async fn weather(city: String) -> String {
    tracing::info!(%city, "calling the weather service");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let forecast = "sunny, 24°C".to_owned();
    tracing::info!(%forecast, "weather service answered");
    forecast
}

/// A streaming model that answers from the forecast.
#[traced_run(kind = "llm")]
async fn fake_llm(prompt: String, run: &RunManager) -> Result<String, AppError> {
    tracing::debug!(prompt_chars = prompt.len(), "prompt sent");
    let mut answer = String::new();
    for token in ["Take ", "your ", "sunglasses."] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        run.on_llm_new_token(token)?;
        answer.push_str(token);
    }
    tracing::info!(tokens = 3, "model finished");
    Ok(answer)
}

/// Answers one user's question: a tool call, then the model on a task of its own.
#[traced_run(kind = "chain")]
async fn plan_trip(question: String, run: &RunManager) -> Result<String, AppError> {
    tracing::info!(%question, "request received");
    let forecast = weather("Lisbon".into(), run).await;
    let children = run.children().clone();
    let prompt = format!("{question} Forecast: {forecast}");
    let answer = tokio::spawn(async move { fake_llm(prompt, &children).await }).await??;
    tracing::info!("reply sent");
    Ok(answer)
}

#[tokio::main]
async fn main() -> Result<(), AppError> {
    if std::env::args().any(|arg| arg == "fmt") {
        tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).with_target(false).init();
    } else {
        // Two requests run at once: deferred spans and retracing print a run again when a
        // line of it follows a line of the other request.
        let tree = tracing_tree::HierarchicalLayer::new(2)
            .with_deferred_spans(true)
            .with_span_retrace(true)
            .with_bracketed_fields(true);
        tracing_subscriber::registry().with(tree).init();
    }

    let callbacks = CallbackManager::new().with_handler(Arc::new(TracingBridge::new()));
    let (ada, grace) = tokio::join!(
        plan_trip("Should I pack sunglasses?".into(), &callbacks),
        plan_trip("Will it rain tomorrow?".into(), &callbacks),
    );
    tracing::info!(ada = %ada?, grace = %grace?, "both requests answered");
    Ok(())
}
