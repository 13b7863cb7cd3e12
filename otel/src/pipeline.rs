//! The export pipeline: finished spans wait in a bounded queue and go to the exporter in
//! batches, from a task on runtrace's dispatch runtime, never from the traced call.
//!
//! Why a queue of our own rather than the SDK's `BatchSpanProcessor`: delivery has to be
//! observable from the handler, so that `runtrace::flush()` (which waits until the handler
//! has handled every event) also means "the finished trees were sent". The spans of a tree
//! whose root ended are exported at once, on the handler's own task when no export is
//! running (no task to spawn, nothing to wake), else the handler waits for the running one
//! (at most `delivery_wait`); spans of trees still open wait at most `scheduled_delay`, for a
//! timer task. Under load one export carries every span finished while the previous one was
//! in flight.
//!
//! Faults: a failed or timed-out export drops its batch (counted) and opens a backoff window
//! (1 s, doubling up to `max_backoff`) in which nothing is sent and nobody waits, while new
//! spans queue up to `max_queued_spans` (the oldest dropped first, counted); after the
//! window the queue is sent, so the exporter recovers when the backend comes back.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use runtrace_runtime::handlers::BoxFuture;
use tokio::sync::watch;

use crate::config::Config;

/// A [`SpanExporter`] behind a pointer: its `export` returns a boxed future.
pub(crate) trait DynExporter: Send + Sync + fmt::Debug {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult>;
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult;
}

impl<E: SpanExporter + 'static> DynExporter for E {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult> {
        Box::pin(SpanExporter::export(self, batch))
    }

    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.shutdown_with_timeout(timeout)
    }
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) struct Pipeline {
    exporter: Box<dyn DynExporter>,
    max_queued: usize,
    max_batch: usize,
    scheduled_delay: Duration,
    export_timeout: Duration,
    max_backoff: Duration,
    queue: Mutex<Queue>,
    /// The highest sequence number whose span was sent, dropped, or held back by a backoff:
    /// what a handler waiting for delivery waits on.
    settled: watch::Sender<u64>,
    timer_armed: AtomicBool,
    runtime: OnceLock<tokio::runtime::Handle>,
    exported: AtomicU64,
    dropped: AtomicU64,
    warned_drop: AtomicBool,
}

struct Queue {
    spans: VecDeque<(u64, SpanData)>,
    next_seq: u64,
    /// An export task is running: it takes what is queued until the queue is empty.
    running: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    failing: bool,
}

impl Pipeline {
    pub(crate) fn new(exporter: Box<dyn DynExporter>, config: &Config) -> Self {
        Pipeline {
            exporter,
            max_queued: config.max_queued_spans.max(1),
            max_batch: config.max_batch.max(1),
            scheduled_delay: config.scheduled_delay,
            export_timeout: config.export_timeout,
            max_backoff: config.max_backoff.max(FIRST_BACKOFF),
            queue: Mutex::new(Queue {
                spans: VecDeque::new(),
                next_seq: 0,
                running: false,
                retry_at: None,
                backoff: FIRST_BACKOFF,
                failing: false,
            }),
            settled: watch::Sender::new(0),
            timer_armed: AtomicBool::new(false),
            runtime: OnceLock::new(),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            warned_drop: AtomicBool::new(false),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the runtime the handler runs on: the one export tasks are spawned on, also
    /// when a flush comes from outside it.
    pub(crate) fn remember_runtime(&self) {
        if self.runtime.get().is_none() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let _ = self.runtime.set(handle);
            }
        }
    }

    pub(crate) fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.get()
    }

    pub(crate) fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue().spans.len()
    }

    /// Counts `n` dropped spans; the first drop is reported, the total at shutdown.
    pub(crate) fn note_dropped(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if !self.warned_drop.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "runtrace_otel",
                dropped = n,
                "runtrace-otel drops spans ({why}); further drops are counted and reported at shutdown"
            );
        }
    }

    /// Queues a finished span; gives its sequence number, to wait for its delivery.
    pub(crate) fn enqueue(&self, span: SpanData) -> u64 {
        let mut queue = self.queue();
        queue.next_seq += 1;
        let seq = queue.next_seq;
        let evicted = if queue.spans.len() >= self.max_queued { queue.spans.pop_front() } else { None };
        queue.spans.push_back((seq, span));
        drop(queue);
        if let Some((evicted_seq, _)) = evicted {
            self.settle(evicted_seq);
            self.note_dropped(1, "the export queue is full");
        }
        seq
    }

    fn settle(&self, seq: u64) {
        self.settled.send_if_modified(|settled| {
            let newer = seq > *settled;
            if newer {
                *settled = seq;
            }
            newer
        });
    }

    /// Delivers the queue now, for a handler that wants its span numbered `seq` sent before
    /// it goes on: on the handler's own task when no export is running (no task to spawn,
    /// nothing to wake), else by waiting for the running one, at most `wait`.
    pub(crate) async fn deliver(self: &Arc<Self>, seq: u64, wait: Duration) {
        enum Next {
            Export,
            Wait,
            Later,
        }
        let next = {
            let mut queue = self.queue();
            if queue.retry_at.is_some_and(|at| at > Instant::now()) {
                Next::Later
            } else if queue.running {
                Next::Wait
            } else {
                queue.running = true;
                Next::Export
            }
        };
        match next {
            Next::Export => Arc::clone(self).export_queued().await,
            Next::Wait => self.wait_settled(seq, wait).await,
            // Nobody waits on a backend that just failed: a timer sends the queue later.
            Next::Later => self.kick(),
        }
    }

    /// Starts an export task unless one runs, or the backoff window is open.
    pub(crate) fn kick(self: &Arc<Self>) {
        let Some(runtime) = self.runtime.get().cloned().or_else(|| tokio::runtime::Handle::try_current().ok()) else {
            return;
        };
        let mut queue = self.queue();
        if queue.running || queue.spans.is_empty() {
            return;
        }
        if let Some(retry_at) = queue.retry_at.filter(|at| *at > Instant::now()) {
            let last = queue.spans.back().map_or(0, |(seq, _)| *seq);
            drop(queue);
            self.settle(last);
            self.schedule(retry_at);
            return;
        }
        queue.running = true;
        drop(queue);
        runtime.spawn(Arc::clone(self).export_queued());
    }

    /// Kicks an export after the scheduled delay, unless one is already scheduled.
    pub(crate) fn kick_later(self: &Arc<Self>) {
        self.schedule(Instant::now() + self.scheduled_delay);
    }

    fn schedule(self: &Arc<Self>, at: Instant) {
        let Some(runtime) = self.runtime.get().cloned().or_else(|| tokio::runtime::Handle::try_current().ok()) else {
            return;
        };
        if self.timer_armed.swap(true, Ordering::AcqRel) {
            return;
        }
        let pipeline = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            pipeline.timer_armed.store(false, Ordering::Release);
            pipeline.kick();
        });
    }

    /// Waits until the span numbered `seq` was settled, at most `wait`.
    pub(crate) async fn wait_settled(&self, seq: u64, wait: Duration) {
        let mut settled = self.settled.subscribe();
        let _ = tokio::time::timeout(wait, settled.wait_for(|settled| *settled >= seq)).await;
    }

    /// The export task: sends batches until the queue is empty or a backoff window opens.
    async fn export_queued(self: Arc<Self>) {
        loop {
            let batch: Vec<(u64, SpanData)> = {
                let mut queue = self.queue();
                let backoff = queue.retry_at.filter(|at| *at > Instant::now());
                if queue.spans.is_empty() || backoff.is_some() {
                    queue.running = false;
                    let last = queue.spans.back().map(|(seq, _)| *seq);
                    drop(queue);
                    if let (Some(at), Some(last)) = (backoff, last) {
                        self.settle(last);
                        self.schedule(at);
                    }
                    return;
                }
                let n = queue.spans.len().min(self.max_batch);
                queue.spans.drain(..n).collect()
            };
            let last = batch.last().map_or(0, |(seq, _)| *seq);
            let spans: Vec<SpanData> = batch.into_iter().map(|(_, span)| span).collect();
            let n = spans.len() as u64;
            let outcome = tokio::time::timeout(self.export_timeout, self.exporter.export(spans)).await;
            match outcome {
                Ok(Ok(())) => self.exported_ok(n),
                Ok(Err(error)) => self.export_failed(n, &error),
                Err(_) => self.export_failed(n, &format_args!("no answer within {:?}", self.export_timeout)),
            }
            self.settle(last);
        }
    }

    fn exported_ok(&self, n: u64) {
        self.exported.fetch_add(n, Ordering::Relaxed);
        let mut queue = self.queue();
        queue.retry_at = None;
        queue.backoff = FIRST_BACKOFF;
        if std::mem::take(&mut queue.failing) {
            drop(queue);
            tracing::info!(target: "runtrace_otel", "the OpenTelemetry backend accepts spans again");
        }
    }

    fn export_failed(&self, n: u64, error: &dyn fmt::Display) {
        let mut queue = self.queue();
        queue.retry_at = Some(Instant::now() + queue.backoff);
        let wait = queue.backoff;
        queue.backoff = (queue.backoff * 2).min(self.max_backoff);
        let first = !std::mem::replace(&mut queue.failing, true);
        drop(queue);
        if first {
            tracing::warn!(
                target: "runtrace_otel",
                %error,
                "exporting spans failed; the batch is dropped and the next export waits {wait:?}"
            );
        }
        self.note_dropped(n, "the backend did not accept a batch");
    }

    /// Sends everything queued now, ignoring the backoff window: for a flush or shutdown.
    /// After a failure the rest is dropped (counted), so a dead backend costs one timeout.
    pub(crate) async fn export_all(&self) {
        loop {
            let batch: Vec<(u64, SpanData)> = {
                let mut queue = self.queue();
                let n = queue.spans.len().min(self.max_batch);
                queue.spans.drain(..n).collect()
            };
            let Some(last) = batch.last().map(|(seq, _)| *seq) else { return };
            let spans: Vec<SpanData> = batch.into_iter().map(|(_, span)| span).collect();
            let n = spans.len() as u64;
            let outcome = tokio::time::timeout(self.export_timeout, self.exporter.export(spans)).await;
            self.settle(last);
            match outcome {
                Ok(Ok(())) => self.exported_ok(n),
                Ok(Err(error)) => {
                    self.export_failed(n, &error);
                    return self.drop_queued();
                }
                Err(_) => {
                    self.export_failed(n, &format_args!("no answer within {:?}", self.export_timeout));
                    return self.drop_queued();
                }
            }
        }
    }

    fn drop_queued(&self) {
        let dropped: Vec<(u64, SpanData)> = self.queue().spans.drain(..).collect();
        if let Some((last, _)) = dropped.last() {
            self.settle(*last);
        }
        self.note_dropped(dropped.len() as u64, "the backend did not accept a batch");
    }

    pub(crate) fn shutdown_exporter(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown(timeout)
    }
}
