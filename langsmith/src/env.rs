//! Set-up from the environment, with the variables LangSmith's SDKs read, and the zero-code
//! switch that sends every run of the process when tracing is on.
//!
//! The variables are listed in the crate's documentation ("Variables").

use std::time::Duration;

use runtrace_runtime::exporter_support::ProcessExporter;

use crate::config::DEFAULT_ENDPOINT;
use crate::error::LangSmithError;
use crate::exporter::{LangSmithBuilder, LangSmithExporter};

/// The variable that turns the zero-code export on.
pub const TRACING_ENV: &str = "LANGSMITH_TRACING";

/// How long the end of the process waits for the last runs to be sent.
const EXIT_FLUSH: Duration = Duration::from_secs(5);

/// The value of the first of `names` that is set and not blank.
fn env_value(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

impl LangSmithExporter {
    /// An exporter configured as LangSmith's SDK is, from `LANGSMITH_API_KEY`,
    /// `LANGSMITH_WORKSPACE_ID`, `LANGSMITH_ENDPOINT` and `LANGSMITH_PROJECT` (or their
    /// `LANGCHAIN_*` names; see "Variables" in the crate docs).
    ///
    /// # Errors
    ///
    /// As [`LangSmithBuilder::build`](crate::LangSmithBuilder::build).
    ///
    /// ```
    /// let langsmith = runtrace_langsmith::LangSmithExporter::from_env()?;
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    pub fn from_env() -> Result<LangSmithExporter, LangSmithError> {
        builder_from_env().build()
    }

    /// Makes this exporter hear every run of the process from now on (see
    /// [`install_process_handlers`](runtrace_runtime::tracer::install_process_handlers)),
    /// and gives a guard whose drop sends what is left, waiting at most 5 seconds. `None`
    /// if it could not be installed.
    ///
    /// ```no_run
    /// let _langsmith = runtrace_langsmith::LangSmithExporter::from_env()?.install();
    /// // every traced call from here on is sent to LangSmith
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use = "dropping the guard at once stops waiting for the runs to be sent"]
    pub fn install(self) -> Option<LangSmithGuard> {
        runtrace_runtime::tracer::install_process_handlers(self.handlers()).then_some(LangSmithGuard { exporter: self })
    }
}

/// A builder configured from the environment (see [`LangSmithExporter::from_env`]).
fn builder_from_env() -> LangSmithBuilder {
    let mut builder = LangSmithExporter::builder()
        .with_project(env_value(&["LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"]).unwrap_or_else(|| "default".into()));
    if let Some(endpoint) = env_value(&["LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"]) {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key) = env_value(&["LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"]) {
        builder = builder.with_api_key(key);
    }
    if let Some(workspace_id) = env_value(&["LANGSMITH_WORKSPACE_ID", "LANGCHAIN_WORKSPACE_ID"]) {
        builder = builder.with_workspace_id(workspace_id);
    }
    builder
}

/// Sends what a [`LangSmithExporter`] holds when dropped, waiting at most 5 seconds.
///
/// ```
/// let guard = runtrace_langsmith::LangSmithGuard::new(runtrace_langsmith::LangSmithExporter::builder().build()?);
/// drop(guard); // sent
/// # Ok::<(), runtrace_langsmith::LangSmithError>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard at once stops waiting for the runs to be sent"]
pub struct LangSmithGuard {
    exporter: LangSmithExporter,
}

impl LangSmithGuard {
    /// A guard over `exporter`.
    ///
    /// ```
    /// use runtrace_langsmith::{LangSmithExporter, LangSmithGuard};
    ///
    /// let langsmith = LangSmithExporter::builder().with_project("evals").build()?;
    /// // Clones share the queue: a guard over one sends what the others exported.
    /// let guard = LangSmithGuard::new(langsmith.clone());
    /// assert_eq!(guard.exporter().project(), Some("evals"));
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    pub fn new(exporter: LangSmithExporter) -> Self {
        LangSmithGuard { exporter }
    }

    /// The exporter it guards.
    ///
    /// ```
    /// # let guard = runtrace_langsmith::LangSmithGuard::new(runtrace_langsmith::LangSmithExporter::builder().build()?);
    /// assert_eq!(guard.exporter().dropped_runs(), 0);
    /// # Ok::<(), runtrace_langsmith::LangSmithError>(())
    /// ```
    #[must_use]
    pub fn exporter(&self) -> &LangSmithExporter {
        &self.exporter
    }
}

impl Drop for LangSmithGuard {
    fn drop(&mut self) {
        if !self.exporter.flush_blocking(EXIT_FLUSH) {
            eprintln!("runtrace-langsmith: {} runs were not sent before the deadline", self.exporter.queued_runs());
        }
    }
}

/// The zero-code switch: with `LANGSMITH_TRACING=true` (or `LANGCHAIN_TRACING_V2=true`),
/// installs an exporter configured from the environment for the whole process, once, and
/// sends its runs when the process exits normally. The `runtrace` facade calls it, with its
/// `langsmith` feature, before the first traced call, unless the program built a
/// [`LangSmithExporter`] of its own by then; other code may call it at start-up.
/// Tracing on with LangSmith's endpoint and no API key, or a configuration that fails, is
/// reported once on stderr and sends nothing.
///
/// ```
/// runtrace_langsmith::install_from_env(); // sends only if LANGSMITH_TRACING=true
/// ```
pub fn install_from_env() {
    PROCESS.install(
        "runtrace-langsmith",
        || exporter_from_env().and_then(|exporter| exporter.install()),
        flush_at_exit,
    );
}

/// What the `runtrace` facade's `langsmith` feature calls before each traced call: one
/// atomic load once the switch was read. Not a public API.
#[doc(hidden)]
#[inline]
pub fn __zero_code() {
    PROCESS.check(install_from_env);
}

static PROCESS: ProcessExporter<LangSmithGuard> = ProcessExporter::new();

/// The program built a `LangSmithExporter` of its own (see
/// [`LangSmithBuilder::build`](crate::LangSmithBuilder::build)).
pub(crate) fn built_by_the_program() {
    PROCESS.supersede(
        "runtrace-langsmith: a LangSmithExporter was built after the zero-code export began, so \
         both send every run; build it before the first traced call, or set LANGSMITH_TRACING=false",
    );
}

fn exporter_from_env() -> Option<LangSmithExporter> {
    let on = env_value(&[TRACING_ENV, "LANGCHAIN_TRACING_V2"])?;
    if !on.eq_ignore_ascii_case("true") {
        if !on.eq_ignore_ascii_case("false") {
            eprintln!("runtrace-langsmith: {TRACING_ENV}={on:?} is neither true nor false; runs are not sent");
        }
        return None;
    }
    let endpoint = env_value(&["LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"]);
    let key = env_value(&["LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"]);
    if key.is_none() && endpoint.as_deref().is_none_or(|endpoint| endpoint.trim_end_matches('/') == DEFAULT_ENDPOINT) {
        eprintln!("runtrace-langsmith: {TRACING_ENV} is true but LANGSMITH_API_KEY is not set; runs are not sent");
        return None;
    }
    match builder_from_env().for_zero_code().build() {
        Ok(exporter) => Some(exporter),
        Err(error) => {
            eprintln!("runtrace-langsmith: {error}; runs are not sent");
            None
        }
    }
}

/// Sends the process exporter's runs when the process exits normally
/// (see [`at_exit`](runtrace_runtime::exporter_support::at_exit)).
fn flush_at_exit() {
    if let Some(guard) = PROCESS.get() {
        if !guard.exporter.flush_blocking(EXIT_FLUSH) {
            eprintln!("runtrace-langsmith: some runs were not sent before the process exited");
        }
    }
}
