//! The background part: a bounded queue of encoded runs, and a thread of its own that sends
//! them to LangSmith in batches, so that exporting a tree costs the traced program its
//! encoding and a lock, never a network wait.
//!
//! - Bounded: past `max_queued_runs` or `max_queued_bytes`, a new tree is dropped whole and
//!   counted (the newest, so that what is queued stays in order and whole).
//! - Batches: as many queued runs as the server takes in one request, by count and by bytes
//!   (its `/info` says, in `batch_ingest_config`; the SDK's defaults otherwise).
//! - The multipart endpoint first; `/runs/batch` from the first 404, 405 or 415 on, or at
//!   once when `/info` says the server does not take multipart.
//! - Answers: 2xx stored; 409 stored already; 408, 425, 502, 503, 504 and transport failures
//!   (a refused or closed connection, no answer within the timeout) retried after a backoff
//!   (doubling), or after `Retry-After` when the server gives one (in seconds, or as an HTTP
//!   date: the wait until then, none once it is past); 429 and 413 retried only when
//!   `Retry-After` says when, and a 413 without it splits the batch in two (a single
//!   run is dropped); any other answer drops the batch. Retries and drops are counted, and
//!   a batch is dropped after `max_attempts` tries.
//! - Delivery is observable: every run queued has a number, and `settled` is how many have
//!   been sent or dropped, so a flush waits until it reaches the number of runs queued when
//!   it began.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use runtrace_runtime::RunId;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::payload::{self, RunOp};

/// What the sender and the exporter's handles share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    queue: Mutex<Queue>,
    /// Wakes the sender: runs were queued, or the exporter was closed.
    work: Notify,
    /// How many runs were settled (sent or dropped), for async waiters.
    settled: watch::Sender<u64>,
    /// The same, for blocking waiters, with `queue`'s lock.
    settled_changed: Condvar,
    closed: AtomicBool,
    warned_overflow: AtomicBool,
    pub(crate) counters: Counters,
}

#[derive(Default)]
struct Queue {
    ops: VecDeque<RunOp>,
    bytes: usize,
    /// How many runs were ever queued; the next one's number.
    queued: u64,
    /// How many of them were sent or dropped: every run numbered below is settled.
    settled: u64,
}

/// What the exporter counts, for its accessors.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) conflicts: AtomicU64,
}

/// Which endpoint the server takes runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Multipart,
    Batch,
}

/// What one request came to.
enum Answer {
    Stored,
    Conflict,
    NoMultipart,
    Retry(Option<Duration>),
    TooLarge,
    Refused(String),
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        Shared {
            config,
            queue: Mutex::default(),
            work: Notify::new(),
            settled: watch::Sender::new(0),
            settled_changed: Condvar::new(),
            closed: AtomicBool::new(false),
            warned_overflow: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The queue is changed with no code between a change and its bookkeeping that can
        // panic, so a poisoned one is still whole.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the runs of one tree, or drops them all (counted) if they do not fit.
    pub(crate) fn push(&self, ops: Vec<RunOp>) {
        let bytes: usize = ops.iter().map(RunOp::size).sum();
        {
            let mut queue = self.queue();
            let fits = queue.ops.len() + ops.len() <= self.config.max_queued_runs
                && queue.bytes + bytes <= self.config.max_queued_bytes;
            if !fits {
                drop(queue);
                self.counters.dropped.fetch_add(ops.len() as u64, Ordering::Relaxed);
                if !self.warned_overflow.swap(true, Ordering::Relaxed) {
                    tracing::warn!(target: "runtrace", runs = ops.len(),
                        "runtrace-langsmith: the queue of runs to send is full (is LangSmith reachable?); \
                         trees are dropped and counted until it has room");
                }
                return;
            }
            queue.queued += ops.len() as u64;
            queue.bytes += bytes;
            queue.ops.extend(ops);
        }
        self.work.notify_one();
    }

    /// How many runs were queued so far: what a flush begun now waits to see settled.
    fn queued(&self) -> u64 {
        self.queue().queued
    }

    pub(crate) fn queued_now(&self) -> usize {
        self.queue().ops.len()
    }

    /// Waits until every run queued before the call is sent or dropped, at most `within`;
    /// whether they were.
    pub(crate) async fn delivered(&self, within: Duration) -> bool {
        let target = self.queued();
        let mut settled = self.settled.subscribe();
        tokio::time::timeout(within, settled.wait_for(|&settled| settled >= target))
            .await
            .is_ok_and(|seen| seen.is_ok())
    }

    /// [`delivered`](Self::delivered), blocking the calling thread.
    pub(crate) fn delivered_blocking(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut queue = self.queue();
        let target = queue.queued;
        while queue.settled < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self.settled_changed.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// Tells the sender to finish what is queued and stop.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.work.notify_one();
    }

    /// Takes the next batch off the queue: at least one run, at most `runs` runs and, past
    /// the first, `bytes` bytes.
    fn take(&self, runs: usize, bytes: usize) -> Vec<RunOp> {
        let mut queue = self.queue();
        let mut batch = Vec::new();
        let mut size = 0;
        while let Some(next) = queue.ops.front() {
            let next_size = next.size();
            if batch.len() >= runs || (!batch.is_empty() && size + next_size > bytes) {
                break;
            }
            size += next_size;
            if let Some(op) = queue.ops.pop_front() {
                batch.push(op);
            }
        }
        queue.bytes -= size;
        batch
    }

    fn settle(&self, runs: usize) {
        let settled = {
            let mut queue = self.queue();
            queue.settled += runs as u64;
            queue.settled
        };
        self.settled_changed.notify_all();
        self.settled.send_replace(settled);
    }

    fn drop_batch(&self, batch: &[RunOp], why: &str) {
        self.counters.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
        tracing::warn!(target: "runtrace", runs = batch.len(), "runtrace-langsmith: runs not sent to LangSmith: {why}");
    }
}

/// The sender's loop, on its own thread, until the exporter is closed and its queue empty.
pub(crate) fn run(shared: &Arc<Shared>, client: &reqwest::Client) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runtrace-langsmith: cannot start the runtime that sends runs ({error}); runs are not sent");
            return;
        }
    };
    runtime.block_on(async {
        let mut server: Option<(Endpoint, usize, usize)> = None;
        loop {
            let notified = shared.work.notified();
            if shared.queued_now() == 0 {
                if shared.closed.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
                continue;
            }
            let (endpoint, runs, bytes) = match server {
                Some(known) => known,
                None => *server.insert(info(shared, client).await),
            };
            let batch = shared.take(runs, bytes);
            let count = batch.len();
            let endpoint = deliver(shared, client, endpoint, batch).await;
            server = Some((endpoint, runs, bytes));
            shared.settle(count);
        }
    });
}

/// Which endpoint the server takes runs at, and its batch limits (runs, bytes), from its
/// `/info`; the multipart endpoint and our defaults when it does not say.
async fn info(shared: &Shared, client: &reqwest::Client) -> (Endpoint, usize, usize) {
    let config = &shared.config;
    let mut known = (Endpoint::Multipart, config.max_batch_runs, config.max_batch_bytes);
    let request = client.get(config.url("info")).header("Accept", "application/json");
    let Ok(response) = authorized(config, request).send().await else { return known };
    let Ok(body) = response.error_for_status().map(reqwest::Response::bytes) else { return known };
    let Ok(info) = body.await.map_err(drop).and_then(|body| serde_json::from_slice::<Value>(&body).map_err(drop))
    else {
        return known;
    };
    let batching = &info["batch_ingest_config"];
    if batching["use_multipart_endpoint"] == Value::Bool(false) {
        known.0 = Endpoint::Batch;
    }
    let limit = |value: &Value| value.as_u64().and_then(|limit| usize::try_from(limit).ok()).filter(|&limit| limit > 0);
    if let Some(runs) = limit(&batching["size_limit"]) {
        known.1 = known.1.min(runs);
    }
    if let Some(bytes) = limit(&batching["size_limit_bytes"]) {
        known.2 = known.2.min(bytes);
    }
    known
}

/// Sends `batch`, retrying and splitting as the answers say (see the module's
/// documentation); gives the endpoint to use from now on.
async fn deliver(shared: &Shared, client: &reqwest::Client, mut endpoint: Endpoint, batch: Vec<RunOp>) -> Endpoint {
    let config = &shared.config;
    let counters = &shared.counters;
    let mut pending = vec![batch];
    while let Some(batch) = pending.pop() {
        let mut attempt = 1;
        let mut backoff = config.first_backoff;
        loop {
            match post(config, client, endpoint, &batch).await {
                Answer::Stored => {
                    counters.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Answer::Conflict => {
                    counters.conflicts.fetch_add(1, Ordering::Relaxed);
                    counters.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Answer::NoMultipart => {
                    tracing::debug!(target: "runtrace", "the server does not take /runs/multipart; using /runs/batch");
                    endpoint = Endpoint::Batch;
                    continue;
                }
                Answer::Retry(after) if attempt < config.max_attempts => {
                    attempt += 1;
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = after.map_or(backoff, |after| after.min(config.max_retry_after));
                    backoff = (backoff * 2).min(config.max_backoff);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Answer::Retry(_) => {
                    shared.drop_batch(&batch, &format!("still failing after {attempt} attempts"));
                }
                Answer::TooLarge if batch.len() > 1 => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
                Answer::TooLarge => shared.drop_batch(&batch, "one run is larger than the server takes (413)"),
                Answer::Refused(why) => shared.drop_batch(&batch, &why),
            }
            break;
        }
    }
    endpoint
}

async fn post(config: &Config, client: &reqwest::Client, endpoint: Endpoint, batch: &[RunOp]) -> Answer {
    let request = match endpoint {
        Endpoint::Multipart => {
            let boundary = RunId::random().as_uuid().simple().to_string();
            client
                .post(config.url("runs/multipart"))
                .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                .body(payload::multipart(batch, &boundary))
        }
        Endpoint::Batch => {
            client.post(config.url("runs/batch")).header(CONTENT_TYPE, "application/json").body(payload::batch(batch))
        }
    };
    let response = match authorized(config, request).send().await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(target: "runtrace", "LangSmith did not answer: {error}");
            return Answer::Retry(None);
        }
    };
    let status = response.status();
    let retry_after = retry_after(response.headers());
    match status.as_u16() {
        200..=299 => Answer::Stored,
        409 => Answer::Conflict,
        404 | 405 | 415 if endpoint == Endpoint::Multipart => Answer::NoMultipart,
        408 | 425 | 502 | 503 | 504 => Answer::Retry(retry_after),
        429 | 413 if retry_after.is_some() => Answer::Retry(retry_after),
        413 => Answer::TooLarge,
        _ => Answer::Refused(refusal(status, response).await),
    }
}

/// `request` with the credentials of `config`: its API key, and the workspace it writes to,
/// which LangSmith's SDK sends as `X-Tenant-Id` (a key scoped to an organization, or to
/// several workspaces, is refused without it).
fn authorized(config: &Config, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if let Some(key) = &config.api_key {
        request = request.header("x-api-key", &key.0);
    }
    if let Some(workspace) = &config.workspace_id {
        request = request.header("x-tenant-id", workspace);
    }
    request
}

/// What the server said when it refused, for the warning.
async fn refusal(status: StatusCode, response: reqwest::Response) -> String {
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body.chars().take(200).collect();
    format!("LangSmith answered {status}: {excerpt}")
}

/// The longest wait `Retry-After` is read as, before `max_retry_after` cuts it further: it
/// keeps a huge number of seconds within what `Duration::from_secs_f64` takes without a panic.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait the server's `Retry-After` asks for (see [`parse_retry_after`]); `None` without
/// one or with one that cannot be read.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?, SystemTime::now())
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as a wait from `now`: delay-seconds (fractions
/// read too), or an HTTP date, the wait until then (none once it is past); either at most an
/// hour. `None` for anything else, so the answer counts as one without `Retry-After`.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::from_secs_f64(seconds.min(LONGEST_RETRY_AFTER.as_secs_f64()))
        }
        Ok(_) => return None,
        Err(_) => httpdate::parse_http_date(value).ok()?.duration_since(now).unwrap_or(Duration::ZERO),
    };
    Some(wait.min(LONGEST_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_nothing_else() {
        // Wed, 21 Oct 2015 07:28:00 GMT.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let read = |value| parse_retry_after(value, now);
        assert_eq!(read("120"), Some(Duration::from_secs(120)));
        assert_eq!(read(" 0.3 "), Some(Duration::from_millis(300)));
        assert_eq!(read("1e30"), Some(LONGEST_RETRY_AFTER), "capped, not a panic");
        assert_eq!(read("Wed, 21 Oct 2015 07:28:02 GMT"), Some(Duration::from_secs(2)));
        assert_eq!(read("Wednesday, 21-Oct-15 07:29:00 GMT"), Some(Duration::from_secs(60)), "RFC 850's form");
        assert_eq!(read("Wed Oct 21 07:28:05 2015"), Some(Duration::from_secs(5)), "asctime's form");
        assert_eq!(read("Wed, 21 Oct 2015 07:27:00 GMT"), Some(Duration::ZERO), "a past date: at once");
        assert_eq!(read("Thu, 22 Oct 2015 07:28:00 GMT"), Some(LONGEST_RETRY_AFTER), "a day away: capped");
        for garbage in ["", "soon", "-1", "NaN", "inf", "Wed, 21 Oct 2015 25:00:00 GMT"] {
            assert_eq!(read(garbage), None, "{garbage:?}");
        }
    }
}
