//! Set-up from the environment: the OTLP/HTTP exporter from the standard
//! `OTEL_EXPORTER_OTLP_*` variables, and the zero-code switch that installs it for the whole
//! process when an endpoint is set.
//!
//! The variables are listed in the crate's documentation ("Variables").

use std::time::Duration;

use runtrace_runtime::exporter_support::ProcessExporter;

use opentelemetry_otlp::{Protocol, WithExportConfig};

use crate::error::OtelError;
use crate::handler::OtelHandler;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// How long the end of the process waits for the last spans to be delivered.
const EXIT_FLUSH: Duration = Duration::from_secs(5);

impl OtelHandler {
    /// A handler exporting over OTLP/HTTP as the standard `OTEL_EXPORTER_OTLP_*` variables
    /// say (see "Variables" in the crate docs); with no endpoint set, to
    /// `http://localhost:4318/v1/traces`.
    ///
    /// # Errors
    ///
    /// The protocol is `grpc`, or the exporter refused its configuration.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), runtrace_otel::OtelError> {
    /// let otel = runtrace_otel::OtelHandler::from_env()?;
    /// let callbacks = otel.callbacks();
    /// # drop(callbacks);
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<OtelHandler, OtelError> {
        Ok(OtelHandler::builder(otlp_exporter_from_env()?).build())
    }

    /// Makes this handler hear every run of the process from now on (see
    /// [`install_process_handlers`](runtrace_runtime::tracer::install_process_handlers)),
    /// and gives a guard whose drop delivers what is left and shuts the exporter down, in
    /// at most 5 seconds. `None` if this handler was installed process-wide before.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), runtrace_otel::OtelError> {
    /// let _otel = runtrace_otel::OtelHandler::from_env()?.install();
    /// // every traced call from here on is exported
    /// # Ok(()) }
    /// ```
    #[must_use = "dropping the guard at once shuts the exporter down"]
    pub fn install(self) -> Option<OtelGuard> {
        runtrace_runtime::tracer::install_process_handlers(self.handlers()).then(|| OtelGuard { handler: self })
    }
}

/// Shuts an [`OtelHandler`] down when dropped: delivers what is left and shuts the exporter
/// down, waiting at most 5 seconds.
///
/// ```
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// let guard = runtrace_otel::OtelGuard::new(runtrace_otel::OtelHandler::new(InMemorySpanExporter::default()));
/// drop(guard); // flushed and shut down
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard at once shuts the exporter down"]
pub struct OtelGuard {
    handler: OtelHandler,
}

impl OtelGuard {
    /// A guard over `handler`.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use runtrace_otel::{OtelGuard, OtelHandler};
    /// use runtrace_runtime::RunKind;
    ///
    /// let otel = OtelHandler::new(InMemorySpanExporter::default());
    /// let guard = OtelGuard::new(otel.clone()); // clones are the same handler
    /// otel.callbacks().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// drop(guard); // delivers the span before the exporter shuts down
    /// assert_eq!(otel.exported_spans(), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    pub fn new(handler: OtelHandler) -> Self {
        OtelGuard { handler }
    }

    /// The handler it guards.
    ///
    /// ```
    /// # let guard = runtrace_otel::OtelGuard::new(runtrace_otel::OtelHandler::new(opentelemetry_sdk::trace::InMemorySpanExporter::default()));
    /// assert_eq!(guard.handler().dropped_spans(), 0);
    /// ```
    #[must_use]
    pub fn handler(&self) -> &OtelHandler {
        &self.handler
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        self.handler.shutdown(EXIT_FLUSH);
    }
}

/// The OTLP/HTTP span exporter as the `OTEL_EXPORTER_OTLP_*` variables configure it.
///
/// # Errors
///
/// As [`OtelHandler::from_env`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), runtrace_otel::OtelError> {
/// let exporter = runtrace_otel::otlp_exporter_from_env()?;
/// let otel = runtrace_otel::OtelHandler::builder(exporter).with_project("quickstart").build();
/// # drop(otel);
/// # Ok(()) }
/// ```
pub fn otlp_exporter_from_env() -> Result<opentelemetry_otlp::SpanExporter, OtelError> {
    let protocol = match env_value(TRACES_PROTOCOL).or_else(|| env_value(PROTOCOL)) {
        None => Protocol::HttpBinary,
        Some(name) if name == "http/protobuf" => Protocol::HttpBinary,
        Some(name) if name == "http/json" => Protocol::HttpJson,
        Some(other) => return Err(OtelError::UnsupportedProtocol(other)),
    };
    Ok(opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(protocol).build()?)
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The zero-code switch: with an OTLP endpoint in the environment, installs an exporting
/// handler for the whole process, once, and delivers its spans when the process exits
/// normally. The `runtrace` facade calls it, with its `otel` feature, before the first
/// traced call, unless the program built an [`OtelHandler`] of its own by then; other code
/// may call it at start-up. A configuration that fails is reported once on stderr and
/// exports nothing.
///
/// ```
/// runtrace_otel::install_from_env(); // exports only if OTEL_EXPORTER_OTLP_ENDPOINT is set
/// ```
pub fn install_from_env() {
    PROCESS.install(
        "runtrace-otel",
        || handler_from_env().and_then(|handler| handler.clone().install()),
        flush_at_exit,
    );
}

/// What the `runtrace` facade's `otel` feature calls before each traced call: one atomic
/// load once the switch was read. Not a public API.
#[doc(hidden)]
#[inline]
pub fn __zero_code() {
    PROCESS.check(install_from_env);
}

static PROCESS: ProcessExporter<OtelGuard> = ProcessExporter::new();

/// The program built an `OtelHandler` of its own (see [`OtelBuilder::build`](crate::OtelBuilder::build)).
pub(crate) fn built_by_the_program() {
    PROCESS.supersede(
        "runtrace-otel: an OtelHandler was built after the zero-code export began, so both export \
         every run; build it before the first traced call, or set OTEL_SDK_DISABLED=true",
    );
}

fn handler_from_env() -> Option<OtelHandler> {
    if env_value(SDK_DISABLED).is_some_and(|value| value.eq_ignore_ascii_case("true")) {
        return None;
    }
    env_value(TRACES_ENDPOINT).or_else(|| env_value(ENDPOINT))?;
    match otlp_exporter_from_env() {
        Ok(exporter) => Some(OtelHandler::builder(exporter).for_zero_code().build()),
        Err(error) => {
            eprintln!("runtrace-otel: {error}; runs are not exported");
            None
        }
    }
}

/// Delivers the process handler's spans when the process exits normally
/// (see [`at_exit`](runtrace_runtime::exporter_support::at_exit)).
fn flush_at_exit() {
    if let Some(guard) = PROCESS.get() {
        guard.handler.shutdown(EXIT_FLUSH);
    }
}
