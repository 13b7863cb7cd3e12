//! Ten thousand requests in flight at once on a multi-thread runtime, each a three-level tree
//! of traced runs with its own two handlers (one sync, one async): nothing crosses from one
//! request to another, every run ends exactly once, every parent id is the caller's, and after
//! `flush` the async handlers have everything the sync ones have.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use runtrace::RunId;
use runtrace::background::Background;
use runtrace::event::{ErrorCause, EventType};
use runtrace::handlers::BoxFuture;
use runtrace::prelude::*;

const REQUESTS: usize = 10_000;
const TOKENS: usize = 3;

/// Who called whom, as the traced functions saw it: each run's id and its caller's.
#[derive(Default)]
struct Calls(Mutex<Vec<(RunId, Option<RunId>)>>);

impl Calls {
    /// Notes the run `run` as called by `caller`; returns its id.
    fn note(&self, run: &RunManager, caller: Option<RunId>) -> RunId {
        let id = run.run_id().expect("every run here has handlers");
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((id, caller));
        id
    }
}

#[derive(Debug, thiserror::Error)]
enum StressError {
    #[error("nothing found for request {0}")]
    NotFound(usize),
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

#[traced_run(kind = "chain", skip(calls))]
async fn handle(request: usize, calls: &Calls, run: &RunManager) -> Result<String, StressError> {
    let me = calls.note(run, None);
    plan(request, me, calls, run).await
}

#[traced_run(kind = "agent", skip(calls))]
async fn plan(request: usize, caller: RunId, calls: &Calls, run: &RunManager) -> Result<String, StressError> {
    let me = calls.note(run, Some(caller));
    let fact = lookup(request, me, calls, run).await?;
    let text = model(request, me, calls, run).await?;
    Ok(format!("{fact}: {text}"))
}

#[traced_run(kind = "tool", skip(calls))]
async fn lookup(request: usize, caller: RunId, calls: &Calls, run: &RunManager) -> Result<usize, StressError> {
    calls.note(run, Some(caller));
    tokio::task::yield_now().await;
    if request % 10 == 7 {
        return Err(StressError::NotFound(request));
    }
    Ok(request * 2)
}

#[traced_run(kind = "llm", skip(calls))]
async fn model(request: usize, caller: RunId, calls: &Calls, run: &RunManager) -> Result<String, StressError> {
    calls.note(run, Some(caller));
    let mut text = String::new();
    for token in 0..TOKENS {
        let token = format!("{request}:{token} ");
        run.on_llm_new_token(&token)?;
        text.push_str(&token);
        tokio::task::yield_now().await;
    }
    Ok(text)
}

/// An async handler keeping every event it hears, paced like an exporter: a moment per event,
/// longer to ship a trace once its root ended, so it is still busy when its request is over.
#[derive(Clone, Default)]
struct AsyncLog(Arc<Mutex<Vec<Event<'static>>>>);

impl AsyncLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event<'static>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl AsyncCallbackHandler for AsyncLog {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            let root_ended =
                event.run.parent_run_id.is_none() && matches!(event.data, EventData::End(_) | EventData::Error(_));
            tokio::time::sleep(Duration::from_millis(if root_ended { 50 } else { 1 })).await;
            self.lock().push(event.clone());
            Ok(())
        })
    }
}

/// What one request left behind.
struct Request {
    request: usize,
    outcome: Option<Result<String, StressError>>,
    sync: Arc<RecordingHandler>,
    async_log: AsyncLog,
    calls: Vec<(RunId, Option<RunId>)>,
}

/// One request with its own handlers. Every tenth request is cancelled partway, at a point
/// that varies with the request; every tenth other one fails in its tool.
async fn request(request: usize) -> Request {
    let sync = Arc::new(RecordingHandler::new());
    let async_log = AsyncLog::default();
    // A small queue: ten thousand async handlers with the default 4096 slots each would hold
    // gigabytes; a request emits a dozen events.
    let callbacks = CallbackManager::new()
        .with_handler(sync.clone())
        .with_handler(Background::new(async_log.clone()).with_capacity(64));
    let calls = Calls::default();
    let outcome = if request % 10 == 3 {
        let cut = async {
            for _ in 0..request % 7 {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            outcome = handle(request, &calls, &callbacks) => Some(outcome),
            () = cut => None,
        }
    } else {
        Some(handle(request, &calls, &callbacks).await)
    };
    let calls = calls.0.into_inner().unwrap_or_else(PoisonError::into_inner);
    Request { request, outcome, sync, async_log, calls }
}

/// One event, as compared between the sync and the async handler.
type Seen = (RunId, EventType, String);

fn seen(event: &Event<'_>) -> Seen {
    let detail = match &event.data {
        EventData::NewToken(token) => token.to_string(),
        EventData::Error(error) => format!("{:?}", error.cause),
        _ => String::new(),
    };
    (event.run.run_id, event.event_type(), detail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_requests_keep_their_runs_apart_and_complete() {
    let started = Instant::now();
    let tasks: Vec<_> = (0..REQUESTS).map(|n| tokio::spawn(request(n))).collect();
    let mut requests = Vec::with_capacity(REQUESTS);
    for task in tasks {
        requests.push(task.await.expect("a request panicked"));
    }

    // Every request is over and its handlers dropped; their async handlers are still busy.
    let behind = requests.iter().filter(|request| request.async_log.len() < request.sync.len()).count();
    assert!(behind > 0, "no async handler was behind: the flush below would prove nothing");
    runtrace::flush().await;
    let elapsed = started.elapsed();
    // How much each async handler had handled when the flush returned, read before the
    // checks below give late handlers time to catch up.
    let handled: Vec<usize> = requests.iter().map(|request| request.async_log.len()).collect();

    let mut cancelled = 0;
    let mut runs = 0;
    for (request, handled) in requests.iter().zip(handled) {
        let events = request.sync.events();
        check_request(request, &events);
        runs += request.calls.len();
        cancelled += usize::from(request.outcome.is_none());

        let n = request.request;
        assert_eq!(handled, events.len(), "request {n}: the async handler was still behind after the flush");
        let sync_seen: Vec<Seen> = events.iter().map(seen).collect();
        let async_seen: Vec<Seen> = request.async_log.lock().iter().map(seen).collect();
        assert_eq!(async_seen, sync_seen, "request {n}: the async handler heard something else");
    }
    assert!(cancelled > 0, "no request was cancelled partway");
    assert!(runs > 3 * REQUESTS, "too few runs: {runs}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// The events of one request: only its own runs, each started once and ended once, linked
/// to the run that called it, carrying its own inputs and tokens.
fn check_request(request: &Request, events: &[Event<'static>]) {
    let n = request.request;
    let callers: HashMap<RunId, Option<RunId>> = request.calls.iter().copied().collect();
    assert_eq!(callers.len(), request.calls.len(), "request {n}: a run id drawn twice");

    let mut started = HashSet::new();
    let mut ended = HashMap::new();
    let mut tokens = Vec::new();
    let root = request.calls.first().map(|(id, _)| *id).expect("the root run");
    for event in events {
        let run = &event.run;
        assert_eq!(run.trace_id, root, "request {n}: an event of another request's run");
        assert!(!ended.contains_key(&run.run_id), "request {n}: an event after {}'s end", run.name);
        match &event.data {
            EventData::Start(start) => {
                assert!(started.insert(run.run_id), "request {n}: {} started twice", run.name);
                let caller = callers.get(&run.run_id).unwrap_or_else(|| panic!("request {n}: a run nobody called"));
                assert_eq!(run.parent_run_id, *caller, "request {n}: {}'s parent is not its caller", run.name);
                assert_eq!(start.inputs.get()["request"], n, "request {n}: another request's inputs");
            }
            EventData::End(_) => {
                ended.insert(run.run_id, None);
            }
            EventData::Error(error) => {
                ended.insert(run.run_id, Some(error.cause));
            }
            EventData::NewToken(token) => tokens.push(token.to_string()),
            other => panic!("request {n}: unexpected {other:?}"),
        }
        assert!(started.contains(&run.run_id), "request {n}: an event before {}'s start", run.name);
    }
    assert_eq!(started.len(), callers.len(), "request {n}: a call without a run");
    assert_eq!(ended.len(), started.len(), "request {n}: a run that never ended");

    let causes: Vec<Option<ErrorCause>> = request.calls.iter().map(|(id, _)| ended[id]).collect();
    let expected_tokens: Vec<String> = (0..TOKENS).map(|token| format!("{n}:{token} ")).collect();
    match &request.outcome {
        Some(Ok(_)) => {
            assert_eq!(causes, [None; 4], "request {n}");
            assert_eq!(tokens, expected_tokens, "request {n}");
        }
        Some(Err(StressError::NotFound(_))) => {
            assert_eq!(causes, [Some(ErrorCause::Returned); 3], "request {n}");
            assert!(tokens.is_empty(), "request {n}");
        }
        Some(Err(error)) => panic!("request {n}: {error}"),
        None => {
            assert!(causes.iter().all(|cause| matches!(cause, None | Some(ErrorCause::Cancelled))), "request {n}");
            assert_eq!(causes[0], Some(ErrorCause::Cancelled), "request {n}: the root was not cancelled");
            assert!(expected_tokens.starts_with(&tokens), "request {n}: {tokens:?}");
        }
    }
}
