//! Model runs: what a model client's response carries (usage, response) reaches the end
//! event and the usage tracker with no line at the call; `model = ..` / `provider = ..` reach
//! the start event; streamed usage counts once; budgets stop runs as stopped; costs come from
//! the user's price table, and models it lacks are unpriced, never free.

use std::sync::Arc;

use runtrace::event::{ErrorCause, Message, ModelOutcome, ModelOutput, ModelRequest, ModelResponse, RunEnd, Usage};
use runtrace::handlers::{BudgetExceeded, Price, PriceTable, RecordingHandler, TokenBudget, UsageTracker};
use runtrace::prelude::*;

use crate::common::{ends, error_of, start_of};

/// What an OpenAI-style chat completion returns.
#[derive(Debug, serde::Serialize)]
struct Completion {
    model: String,
    id: String,
    text: String,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl ModelOutput for Completion {
    fn usage(&self) -> Option<Usage> {
        Some(Usage::new(self.prompt_tokens, self.completion_tokens))
    }

    fn response(&self) -> Option<ModelResponse> {
        Some(
            ModelResponse::new()
                .with_model(self.model.clone())
                .with_id(self.id.clone())
                .with_finish_reason("stop")
                .with_message(Message::new("assistant", self.text.clone())),
        )
    }
}

struct Client {
    model: String,
}

impl Client {
    #[traced_run(kind = "chat_model", model = self.model, provider = "openai")]
    fn complete(&self, prompt: &str) -> Result<Completion, CallbackError> {
        Ok(Completion {
            model: format!("{}-2024-07-18", self.model),
            id: "chatcmpl-1".into(),
            text: format!("echo: {prompt}"),
            prompt_tokens: 12,
            completion_tokens: 3,
        })
    }

    /// Streams three tokens, reporting the running usage after each, as a provider's
    /// stream chunks do, then returns the text alone.
    #[traced_run(kind = "llm", model = self.model)]
    fn stream(&self, prompt: &str, run: &RunManager) -> Result<String, CallbackError> {
        let mut text = String::new();
        for (sent, token) in ["Hel", "lo", "!"].into_iter().enumerate() {
            run.on_llm_new_token(token)?;
            run.report_usage(Usage::new(prompt.len() as u64, sent as u64 + 1))?;
            text.push_str(token);
        }
        Ok(text)
    }
}

fn client() -> Client {
    Client { model: "gpt-4o-mini".into() }
}

fn outcome<'e>(end: &'e RunEnd<'_>) -> &'e ModelOutcome {
    end.model.as_deref().expect("a model run's end carries its outcome")
}

/// A model call that cannot fail, returning its `ModelOutput` bare: the macro cannot tell
/// it from a `Result` alias, so the compiler is asked (`ResultProbe`), and the answer must
/// still let the output's usage through.
#[traced_run(kind = "llm", model = "local-echo")]
fn echo_locally(prompt: &str) -> Completion {
    Completion {
        model: "local-echo-1".into(),
        id: "local-1".into(),
        text: prompt.into(),
        prompt_tokens: 2,
        completion_tokens: 1,
    }
}

#[test]
fn a_model_output_returned_bare_reaches_the_end_event_too() {
    let recorder = Arc::new(RecordingHandler::new());
    echo_locally("hi", CallbackManager::new().with_handler(recorder.clone()));
    let ends = ends(&recorder);
    assert_eq!(outcome(&ends[0].1).usage, Some(Usage::new(2, 1)));
    assert_eq!(ends[0].1.outputs.get()["text"], "hi", "the value itself is the output");
}

#[test]
fn a_returned_model_output_reaches_the_end_event_with_no_code_at_the_call() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    client().complete("hi", &CallbackManager::new().with_handler(recorder.clone()))?;

    let start = start_of(&recorder, "Client::complete");
    let request = start.model.as_deref().expect("model and provider reach the start event");
    assert_eq!((request.model.as_deref(), request.provider.as_deref()), (Some("gpt-4o-mini"), Some("openai")));
    let ends = ends(&recorder);
    let outcome = outcome(&ends[0].1);
    assert_eq!(outcome.usage, Some(Usage::new(12, 3)));
    let response = outcome.response.as_ref().expect("the response");
    assert_eq!(response.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!((response.id.as_deref(), &response.finish_reasons[..]), (Some("chatcmpl-1"), &["stop".to_owned()][..]));
    assert_eq!(response.messages[0].content, "echo: hi");
    assert_eq!(outcome.time_to_first_token, None, "it did not stream");
    Ok(())
}

#[test]
fn streamed_usage_is_counted_once_with_the_last_report_and_the_first_token_time() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let tracker = Arc::new(UsageTracker::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone()).with_handler(tracker.clone());
    client().stream("four", &callbacks)?;

    let ends = ends(&recorder);
    let outcome = outcome(&ends[0].1);
    assert_eq!(outcome.usage, Some(Usage::new(4, 3)), "the last report, not the sum of three");
    assert!(outcome.time_to_first_token.is_some());
    assert_eq!(tracker.usage_by_model()["gpt-4o-mini"], Usage::new(4, 3));
    Ok(())
}

#[test]
fn the_usage_tracker_totals_per_model_across_calls_and_names_the_answering_model() -> Result<(), CallbackError> {
    let tracker = Arc::new(UsageTracker::new());
    let callbacks = CallbackManager::new().with_handler(tracker.clone());
    for _ in 0..3 {
        client().complete("hi", &callbacks)?;
    }
    client().stream("four", &callbacks)?;

    let by_model = tracker.usage_by_model();
    assert_eq!(by_model["gpt-4o-mini-2024-07-18"], Usage::new(36, 9), "filed under the model that answered");
    assert_eq!(by_model["gpt-4o-mini"], Usage::new(4, 3), "no response: the model asked for");
    assert_eq!(tracker.total(), Usage::new(40, 12));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_their_own_trackers_never_mix() {
    let tasks: Vec<_> = (1..=16_u64)
        .map(|calls| {
            tokio::spawn(async move {
                let tracker = Arc::new(UsageTracker::new());
                let callbacks = CallbackManager::new().with_handler(tracker.clone());
                for _ in 0..calls {
                    client().complete("hi", &callbacks).expect("no handler raises");
                    tokio::task::yield_now().await;
                }
                (calls, tracker.total())
            })
        })
        .collect();
    for task in tasks {
        let (calls, total) = task.await.expect("the task ran");
        assert_eq!(total, Usage::new(12 * calls, 3 * calls));
    }
}

#[test]
fn a_billed_budget_stops_the_run_that_crosses_it_recorded_as_stopped_with_its_usage() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::billed(6)).with_handler(recorder.clone());

    let error = client().stream("four", &callbacks).expect_err("7 tokens billed, 6 allowed");

    let exceeded = error.handler_error().and_then(|error| error.downcast_ref::<BudgetExceeded>());
    assert_eq!(exceeded.map(|exceeded| (exceeded.limit, exceeded.used)), Some((6, 7)));
    let failed = error_of(&recorder, "Client::stream");
    assert_eq!(failed.cause, ErrorCause::Stopped);
    let usages: Vec<Usage> = recorder
        .events()
        .iter()
        .filter_map(|event| if let EventData::Usage(usage) = &event.data { Some(*usage) } else { None })
        .collect();
    assert_eq!(usages.last(), Some(&Usage::new(4, 3)), "the usage that crossed it was heard and kept");

    // Spent: every later run of the request is refused at its start.
    let refused = client().complete("again", &callbacks).expect_err("over budget");
    assert!(refused.handler_error().is_some_and(|error| error.is::<BudgetExceeded>()));
}

#[test]
fn a_streamed_budget_stops_at_the_token_past_it_and_every_handler_hears_that_token() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(TokenBudget::streamed(2)).with_handler(recorder.clone());

    let error = client().stream("four", &callbacks).expect_err("the third token is one too many");

    assert!(error.handler_error().is_some_and(|error| error.is::<BudgetExceeded>()));
    let tokens = recorder.events().iter().filter(|event| matches!(event.data, EventData::NewToken(_))).count();
    assert_eq!(tokens, 3, "the handler after the budget heard the crossing token");
    assert_eq!(error_of(&recorder, "Client::stream").cause, ErrorCause::Stopped);
}

#[test]
fn costs_come_from_the_price_table_and_models_it_lacks_are_unpriced_not_free() -> Result<(), CallbackError> {
    let prices = PriceTable::new().with_model("gpt-4o-mini", Price::per_million(0.15, 0.60));
    let priced = Arc::new(UsageTracker::new().with_prices(prices));
    let unpriced = Arc::new(UsageTracker::new());
    let callbacks = CallbackManager::new().with_handler(priced.clone()).with_handler(unpriced.clone());
    client().complete("hi", &callbacks)?;
    Client { model: "claude-sonnet-4".into() }.complete("hi", &callbacks)?;

    let costs = priced.cost_by_model();
    let dated = costs["gpt-4o-mini-2024-07-18"].dollars.expect("priced by its undated name");
    assert!((dated - (12.0 * 0.15 + 3.0 * 0.60) / 1e6).abs() < 1e-15, "{dated}");
    assert_eq!(costs["claude-sonnet-4-2024-07-18"].dollars, None, "not in the table: unpriced");
    assert!(unpriced.cost_by_model().values().all(|cost| cost.dollars.is_none()), "no table: nothing priced");
    Ok(())
}

#[test]
fn cached_input_tokens_are_priced_at_the_cached_price() {
    let price = Price::per_million(2.0, 8.0).with_cached_input(0.5);
    let usage = Usage::new(1_000_000, 1_000_000).with_cache_read(400_000);
    assert!((price.cost(&usage) - (0.6 * 2.0 + 0.4 * 0.5 + 8.0)).abs() < 1e-12);
}

#[test]
fn inconsistent_usage_is_kept_as_reported_and_said_so() -> Result<(), CallbackError> {
    let reported = Usage::new(10, 5).with_total(99);
    assert!(!reported.is_consistent());
    let recorder = Arc::new(RecordingHandler::new());
    let request = ModelRequest::default;
    let run =
        CallbackManager::new().with_handler(recorder.clone()).start_model_run(RunKind::Llm, "odd", &(), &request)?;
    run.report_usage(reported)?;
    run.end(&())?;
    assert_eq!(outcome(&ends(&recorder)[0].1).usage, Some(reported), "never rewritten");
    Ok(())
}

#[test]
fn usage_on_a_run_that_is_not_a_model_run_or_after_the_end_is_not_recorded_and_nothing_recorded_is_lost()
-> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let tracker = Arc::new(UsageTracker::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone()).with_handler(tracker.clone());

    let chain = callbacks.start_run(RunKind::Chain, "answer", &())?;
    chain.report_usage(Usage::new(1, 1))?; // not a model run: not recorded, no error
    let llm = chain.children().start_run(RunKind::Llm, "fake_llm", &())?;
    llm.report_usage(Usage::new(5, 5))?;
    let late = llm.run().clone();
    llm.end(&"done")?;
    late.report_usage(Usage::new(100, 100))?; // after the end: not recorded, no error
    chain.end(&())?;

    assert!(
        !recorder
            .events()
            .iter()
            .any(|event| { matches!(&event.data, EventData::Usage(usage) if *usage != Usage::new(5, 5)) })
    );
    assert_eq!(tracker.total(), Usage::new(5, 5), "what was recorded stays");
    Ok(())
}

#[test]
fn late_metadata_reaches_handlers_for_any_kind_of_run() -> Result<(), CallbackError> {
    let recorder = Arc::new(RecordingHandler::new());
    let run = CallbackManager::new().with_handler(recorder.clone()).start_run(RunKind::Retriever, "search", &"q")?;
    run.add_metadata("hits", &3)?;
    run.end(&())?;
    let events = recorder.events();
    let EventData::Metadata(metadata) = &events[1].data else { panic!("{events:?}") };
    assert_eq!(metadata.get("hits"), Some(&serde_json::json!(3)));
    Ok(())
}

#[test]
fn the_tracer_keeps_model_data_in_langsmiths_places_and_the_jsonl_file_reads_it_back() -> Result<(), CallbackError> {
    use runtrace::tracer::{JsonlExporter, RunCollector, RunTree, Tracer};

    let collector = RunCollector::new();
    let path = std::env::temp_dir().join(format!("runtrace-model-runs-{}.jsonl", std::process::id()));
    let callbacks = CallbackManager::new()
        .with_handler(Tracer::new(collector.clone()))
        .with_handler(Tracer::new(JsonlExporter::open(&path).expect("a temporary file")));
    client().complete("hi", &callbacks)?;
    client().stream("four", &callbacks)?;
    let failed = callbacks.start_model_run(RunKind::Llm, "failing", &(), &|| ModelRequest::new("gpt-4o"))?;
    failed.report_usage(Usage::new(7, 1))?;
    failed.error("rate limited")?;

    let trees = collector.trees();
    let complete = &trees[0];
    assert_eq!(complete.metadata["ls_model_name"], "gpt-4o-mini");
    assert_eq!(complete.metadata["ls_provider"], "openai");
    assert_eq!(complete.usage_metadata, Some(Usage::new(12, 3)));
    assert_eq!(complete.extra["response"]["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(complete.extra["response"]["finish_reasons"][0], "stop");
    let streamed = &trees[1];
    assert_eq!((streamed.token_count(), streamed.usage_metadata), (3, Some(Usage::new(4, 3))), "chunks, tokens");
    assert!(streamed.extra["time_to_first_token"].as_f64().is_some());
    assert_eq!(trees[2].usage_metadata, Some(Usage::new(7, 1)), "a failed run keeps the usage it reported");

    let line = std::fs::read_to_string(&path).expect("the file");
    let first: serde_json::Value = serde_json::from_str(line.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        first["extra"]["metadata"]["usage_metadata"],
        serde_json::json!({"input_tokens": 12, "output_tokens": 3, "total_tokens": 15})
    );
    assert_eq!(RunTree::read_jsonl(&path).expect("it reads back"), trees);
    std::fs::remove_file(&path).ok();
    Ok(())
}

#[test]
fn the_tree_view_shows_chunks_billed_tokens_and_cost_per_run_and_per_trace() -> Result<(), CallbackError> {
    #[traced_run(kind = "chain")]
    fn answer(run: &RunManager) -> Result<String, CallbackError> {
        let completion = client().complete("hi", run)?;
        client().stream("four", run)?;
        Ok(completion.text)
    }

    let ((), trees) = runtrace::tracer::collect_runs(|| {
        answer(CallbackManager::none()).expect("no handler raises");
    });
    let prices = PriceTable::new().with_model("gpt-4o-mini", Price::per_million(1_000_000.0, 1_000_000.0));
    let drawn = trees[0].view().with_prices(&prices).to_string();
    assert!(drawn.contains("12+3 tokens  $15.000000"), "{drawn}");
    assert!(drawn.contains("3 chunks  4+3 tokens  $7.000000"), "{drawn}");
    assert!(drawn.contains("total: 16+6 tokens  $22.000000"), "{drawn}");
    let unpriced = trees[0].view().with_prices(&PriceTable::new()).to_string();
    assert!(unpriced.contains("total: 16+6 tokens  unpriced"), "{unpriced}");
    Ok(())
}
