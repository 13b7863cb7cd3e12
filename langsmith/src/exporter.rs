//! [`LangSmithExporter`]: the [`Exporter`] that sends finished trees to LangSmith, its
//! builder, and the background handler through which `runtrace::flush()` waits for delivery.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use runtrace_runtime::background::{Background, Overflow};
use runtrace_runtime::handlers::{BoxFuture, HandlerResult, IntoHandler, RegisteredHandler};
use runtrace_runtime::tracer::{ExportError, Exporter, RunTree, Tracer};
use runtrace_runtime::{AsyncCallbackHandler, CallbackManager, Event, EventData};

use crate::config::{ApiKey, Config};
use crate::error::LangSmithError;
use crate::payload::RunOp;
use crate::sender::{self, Shared};

/// Sends each finished tree's runs to LangSmith's ingest API, from a thread of its own: the
/// traced program pays for encoding the tree and a lock, never for the network.
///
/// - Runs go to `POST /runs/multipart` in the SDK's format, or to `POST /runs/batch` when
///   the server does not take multipart; batched within the limits the server's `/info`
///   gives.
/// - Retries: 408, 425, 502, 503, 504 and lost connections, with a doubling backoff or
///   after `Retry-After`; 429 and 413 when `Retry-After` says when; a 409 means stored
///   already. Memory is bounded ([`with_max_queued_runs`](LangSmithBuilder::with_max_queued_runs)):
///   what does not fit is dropped and counted ([`dropped_runs`](Self::dropped_runs)).
/// - Each run is sent in its tree's project (its `session_name`: see
///   [`Tracer::with_project`]), else in this exporter's ([`with_project`](LangSmithBuilder::with_project)).
/// - Delivery: [`flush`](Self::flush) waits until every tree exported so far was sent; so
///   does `runtrace::flush()` for the trees of a manager made with
///   [`callbacks`](Self::callbacks) or [`handlers`](Self::handlers).
///
/// Clones share the queue and the thread, which stops once every clone is dropped and the
/// queue is sent.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_langsmith::LangSmithExporter;
///
/// let langsmith = LangSmithExporter::builder()
///     .with_endpoint("http://127.0.0.1:9") // nothing listens there: the run is retried, then dropped
///     .with_project("support-bot")
///     .with_max_attempts(1)
///     .build()?;
/// let callbacks = langsmith.callbacks();
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
/// langsmith.flush_blocking(std::time::Duration::from_secs(5));
/// assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs()), (0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LangSmithExporter {
    shared: Arc<Shared>,
    /// Closes the sender when the last clone goes.
    _owner: Arc<Owner>,
}

struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl LangSmithExporter {
    /// A builder, starting from LangSmith's endpoint, no key and no project.
    ///
    /// ```
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_api_key("lsv2_...");
    /// ```
    pub fn builder() -> LangSmithBuilder {
        LangSmithBuilder { config: Config::default(), zero_code: false }
    }

    /// A tracer exporting to this exporter, its trees in this exporter's project.
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder().with_project("evals").build()?;
    /// let tracer = langsmith.tracer();
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn tracer(&self) -> Tracer {
        let tracer = Tracer::new(self.clone());
        match &self.shared.config.project {
            Some(project) => tracer.with_project(project.clone()),
            None => tracer,
        }
    }

    /// Its [`tracer`](Self::tracer), and a background handler that, when a run ends, waits
    /// (at most [`with_delivery_wait`](LangSmithBuilder::with_delivery_wait)) until the
    /// trees exported so far were sent: so `runtrace::flush()` means delivered. Add both,
    /// in this order.
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder().build()?;
    /// let callbacks = langsmith
    ///     .handlers()
    ///     .into_iter()
    ///     .fold(runtrace_runtime::CallbackManager::new(), runtrace_runtime::CallbackManager::with_handler);
    /// assert_eq!(callbacks.handlers().len(), 2);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn handlers(&self) -> [RegisteredHandler; 2] {
        let delivery = Background::new(Delivery { exporter: self.clone() })
            .with_capacity(1024)
            .with_overflow(Overflow::DropNewest)
            .into_handler();
        [self.tracer().handler(), delivery]
    }

    /// A manager holding its [`handlers`](Self::handlers), inheritable: every run started
    /// from it, and their children, are sent to LangSmith.
    ///
    /// ```
    /// let callbacks = runtrace_langsmith::LangSmithExporter::builder().build()?.callbacks();
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn callbacks(&self) -> CallbackManager {
        self.handlers().into_iter().fold(CallbackManager::new(), CallbackManager::with_handler)
    }

    /// Waits until every tree exported before the call was sent (or dropped).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), runtrace_langsmith::LangSmithError> {
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder().build()?;
    /// langsmith.flush().await; // nothing was exported: at once
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self) {
        while !self.shared.delivered(Duration::from_secs(3600)).await {}
    }

    /// [`flush`](Self::flush) for synchronous code, giving up after `timeout`; whether every
    /// tree was sent (or dropped) by then.
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder().build()?;
    /// assert!(langsmith.flush_blocking(std::time::Duration::from_secs(1)));
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use = "`false` says some runs were not sent yet"]
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        self.shared.delivered_blocking(timeout)
    }

    /// How many runs LangSmith accepted (a 409, stored already, counts).
    ///
    /// ```
    /// assert_eq!(runtrace_langsmith::LangSmithExporter::builder().build()?.sent_runs(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn sent_runs(&self) -> u64 {
        self.shared.counters.sent.load(Ordering::Relaxed)
    }

    /// How many runs were dropped: those that found the queue full, and those of batches
    /// the server refused or that still failed after every retry.
    ///
    /// ```
    /// assert_eq!(runtrace_langsmith::LangSmithExporter::builder().build()?.dropped_runs(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn dropped_runs(&self) -> u64 {
        self.shared.counters.dropped.load(Ordering::Relaxed)
    }

    /// How many requests were sent again after a failure.
    ///
    /// ```
    /// assert_eq!(runtrace_langsmith::LangSmithExporter::builder().build()?.retries(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.shared.counters.retries.load(Ordering::Relaxed)
    }

    /// How many batches the server said it had stored already (409).
    ///
    /// ```
    /// assert_eq!(runtrace_langsmith::LangSmithExporter::builder().build()?.conflicts(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn conflicts(&self) -> u64 {
        self.shared.counters.conflicts.load(Ordering::Relaxed)
    }

    /// How many runs wait to be sent.
    ///
    /// ```
    /// assert_eq!(runtrace_langsmith::LangSmithExporter::builder().build()?.queued_runs(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn queued_runs(&self) -> usize {
        self.shared.queued_now()
    }

    /// The project runs go to when their tree names none.
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder().with_project("evals").build()?;
    /// assert_eq!(langsmith.project(), Some("evals"));
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn project(&self) -> Option<&str> {
        self.shared.config.project.as_deref()
    }
}

impl std::fmt::Debug for LangSmithExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LangSmithExporter")
            .field("endpoint", &self.shared.config.endpoint)
            .field("workspace_id", &self.shared.config.workspace_id)
            .field("project", &self.shared.config.project)
            .field("queued_runs", &self.queued_runs())
            .field("sent_runs", &self.sent_runs())
            .field("dropped_runs", &self.dropped_runs())
            .finish_non_exhaustive()
    }
}

impl Exporter for LangSmithExporter {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        let ops = RunOp::of_tree(tree, self.shared.config.project.as_deref())?;
        self.shared.push(ops);
        Ok(())
    }
}

/// Builds a [`LangSmithExporter`]; [`LangSmithExporter::from_env`](crate::LangSmithExporter::from_env)
/// starts one from the environment.
///
/// ```
/// use std::time::Duration;
/// let langsmith = runtrace_langsmith::LangSmithExporter::builder()
///     .with_endpoint("https://eu.api.smith.langchain.com")
///     .with_api_key("lsv2_...")
///     .with_project("support-bot")
///     .with_timeout(Duration::from_secs(5))
///     .build()?;
/// # Ok::<(), runtrace_langsmith::LangSmithError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct LangSmithBuilder {
    pub(crate) config: Config,
    /// Built by the zero-code switch, not by the program (see [`build`](Self::build)).
    zero_code: bool,
}

impl LangSmithBuilder {
    /// The API's base URL (default [`DEFAULT_ENDPOINT`](crate::DEFAULT_ENDPOINT)).
    ///
    /// ```
    /// use runtrace_langsmith::{LangSmithError, LangSmithExporter};
    ///
    /// // A self-hosted LangSmith:
    /// let local = LangSmithExporter::builder().with_endpoint("http://127.0.0.1:1984").build()?;
    /// let typo = LangSmithExporter::builder().with_endpoint("127.0.0.1:1984").build();
    /// assert!(matches!(typo, Err(LangSmithError::Endpoint(_))));
    /// # drop(local);
    /// # Ok::<(), LangSmithError>(())
    /// ```
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.endpoint = endpoint.into();
        self
    }

    /// The API key, sent as `x-api-key`.
    ///
    /// ```
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_api_key("lsv2_sk_secret");
    /// assert!(!format!("{builder:?}").contains("lsv2_sk_secret")); // never printed, even in debug output
    /// ```
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(ApiKey(key.into()));
        self
    }

    /// The workspace runs are written to, sent as `X-Tenant-Id` with every request, as
    /// LangSmith's SDK does (an empty id: none). An API key scoped to an organization, or to
    /// several workspaces, needs it; a key of one workspace writes there without it.
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::builder()
    ///     .with_api_key("lsv2_sk_...") // an organization's service key
    ///     .with_workspace_id("9a7c3e1f-2b4d-4f6a-8c0e-1d3b5f7a9c2e")
    ///     .with_project("support-bot")
    ///     .build()?;
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    pub fn with_workspace_id(mut self, workspace_id: impl Into<String>) -> Self {
        let workspace_id = workspace_id.into();
        self.config.workspace_id = (!workspace_id.is_empty()).then_some(workspace_id);
        self
    }

    /// The project of the runs whose tree names none (an empty name: none).
    ///
    /// ```
    /// use runtrace_langsmith::LangSmithExporter;
    ///
    /// let builder = LangSmithExporter::builder().with_project("support-bot");
    /// assert!(format!("{builder:?}").contains("support-bot"));
    /// let langsmith = builder.build()?;
    /// # drop(langsmith);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        let project = project.into();
        self.config.project = (!project.is_empty()).then_some(project);
        self
    }

    /// The most runs waiting to be sent (default 10,000); a tree that does not fit is
    /// dropped and counted.
    ///
    /// ```
    /// use runtrace_langsmith::LangSmithExporter;
    /// use runtrace_runtime::RunKind;
    ///
    /// let langsmith = LangSmithExporter::builder()
    ///     .with_endpoint("http://127.0.0.1:9") // in case a run were queued: nothing leaves the machine
    ///     .with_max_queued_runs(1)
    ///     .build()?;
    /// let chain = langsmith.callbacks().start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// chain.end(&"4")?; // a tree of two runs: it does not fit, so neither is queued
    /// assert_eq!((langsmith.queued_runs(), langsmith.dropped_runs()), (0, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_queued_runs(mut self, runs: usize) -> Self {
        self.config.max_queued_runs = runs;
        self
    }

    /// The most bytes of runs waiting to be sent (default 64 MiB). A finished tree that would
    /// go over it is dropped whole, each of its runs counted in
    /// [`dropped_runs`](LangSmithExporter::dropped_runs), and the first drop is logged as a
    /// warning: the traced code never waits for the queue.
    ///
    /// ```
    /// use runtrace_langsmith::LangSmithExporter;
    /// use runtrace_runtime::RunKind;
    ///
    /// let langsmith = LangSmithExporter::builder()
    ///     .with_endpoint("http://127.0.0.1:9") // in case a run were queued: nothing leaves the machine
    ///     .with_max_queued_bytes(1) // smaller than any run
    ///     .build()?;
    /// langsmith.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// assert_eq!((langsmith.queued_runs(), langsmith.dropped_runs()), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.config.max_queued_bytes = bytes;
        self
    }

    /// The most runs in one request (default 100; the server's `/info` may say fewer).
    ///
    /// ```
    /// // At least one run per request, or nothing could ever be sent.
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_max_batch_runs(0);
    /// assert!(format!("{builder:?}").contains("max_batch_runs: 1,"));
    /// ```
    pub fn with_max_batch_runs(mut self, runs: usize) -> Self {
        self.config.max_batch_runs = runs.max(1);
        self
    }

    /// The most bytes in one request (default 20 MiB; the server's `/info` may say fewer).
    ///
    /// ```
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_max_batch_bytes(1 << 20);
    /// assert!(format!("{builder:?}").contains("max_batch_bytes: 1048576,"));
    /// ```
    pub fn with_max_batch_bytes(mut self, bytes: usize) -> Self {
        self.config.max_batch_bytes = bytes.max(1);
        self
    }

    /// How long one request may take before it is tried again (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_timeout(Duration::from_secs(3));
    /// assert!(format!("{builder:?}").contains("timeout: 3s,"));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The pause before the first retry and the longest one, doubling between (default
    /// 0.5 s and 8 s); a `Retry-After` of the server takes their place.
    ///
    /// ```
    /// use std::time::Duration;
    /// // A longest pause shorter than the first is raised to it.
    /// let builder = runtrace_langsmith::LangSmithExporter::builder()
    ///     .with_backoff(Duration::from_secs(2), Duration::from_secs(1));
    /// assert!(format!("{builder:?}").contains("first_backoff: 2s, max_backoff: 2s,"));
    /// ```
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.first_backoff = first;
        self.config.max_backoff = max.max(first);
        self
    }

    /// The longest `Retry-After` obeyed (default 60 s); a longer one is cut to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_max_retry_after(Duration::from_secs(30));
    /// assert!(format!("{builder:?}").contains("max_retry_after: 30s,"));
    /// ```
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.config.max_retry_after = max;
        self
    }

    /// How many times a batch is tried before it is dropped (default 5).
    ///
    /// ```
    /// // Zero attempts would drop every batch unsent: a batch is always tried once.
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_max_attempts(0);
    /// assert!(format!("{builder:?}").contains("max_attempts: 1,"));
    /// ```
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts.max(1);
        self
    }

    /// How long the handler of [`LangSmithExporter::handlers`] waits, when a run ends, for
    /// the trees exported so far to be sent (default 2 s): what `runtrace::flush()` waits
    /// for at most per run.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = runtrace_langsmith::LangSmithExporter::builder().with_delivery_wait(Duration::from_millis(500));
    /// assert!(format!("{builder:?}").contains("delivery_wait: 500ms"));
    /// ```
    pub fn with_delivery_wait(mut self, wait: Duration) -> Self {
        self.config.delivery_wait = wait;
        self
    }

    /// The zero-code switch's exporter: building it turns no switch off.
    pub(crate) fn for_zero_code(mut self) -> Self {
        self.zero_code = true;
        self
    }

    /// The exporter, its sending thread started.
    ///
    /// A program that builds its own exporter sends as it chooses, so the zero-code switch
    /// (see [`install_from_env`](crate::install_from_env)) no longer installs one on the
    /// first traced call, which would send every run a second time; build it before that
    /// call, or call `install_from_env` to have both.
    ///
    /// # Errors
    ///
    /// The endpoint is not an http(s) URL, or the HTTP client or the thread could not be
    /// started.
    ///
    /// ```
    /// use runtrace_langsmith::LangSmithExporter;
    ///
    /// // Nothing is sent until a run ends, so nothing needs to listen yet.
    /// let langsmith = LangSmithExporter::builder().with_endpoint("http://127.0.0.1:9").build()?;
    /// assert_eq!((langsmith.sent_runs(), langsmith.dropped_runs()), (0, 0));
    /// assert!(LangSmithExporter::builder().with_endpoint("ftp://example.com").build().is_err());
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    pub fn build(self) -> Result<LangSmithExporter, LangSmithError> {
        let LangSmithBuilder { config, zero_code } = self;
        if !zero_code {
            crate::env::built_by_the_program();
        }
        let endpoint = reqwest::Url::parse(&config.endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| LangSmithError::Endpoint(config.endpoint.clone()))?;
        drop(endpoint);
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("runtrace-langsmith/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let shared = Arc::new(Shared::new(config));
        let sending = Arc::clone(&shared);
        std::thread::Builder::new().name("runtrace-langsmith".into()).spawn(move || sender::run(&sending, &client))?;
        Ok(LangSmithExporter { _owner: Arc::new(Owner(Arc::clone(&shared))), shared })
    }
}

/// The background half of [`LangSmithExporter::handlers`]: hears each run's end after the
/// tracer exported what it ended, and waits for it to be sent.
struct Delivery {
    exporter: LangSmithExporter,
}

impl AsyncCallbackHandler for Delivery {
    fn on_event<'a>(&'a self, event: &'a Event<'static>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            if matches!(event.data, EventData::End(_) | EventData::Error(_)) {
                let shared = &self.exporter.shared;
                if !shared.delivered(shared.config.delivery_wait).await {
                    tracing::debug!(target: "runtrace", "runs not yet sent to LangSmith after the delivery wait");
                }
            }
            Ok(())
        })
    }

    fn name(&self) -> &str {
        "runtrace_langsmith::Delivery"
    }
}
