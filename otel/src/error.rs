//! [`OtelError`]: why an exporter could not be set up.

/// Why an OTLP exporter could not be set up from the environment.
///
/// ```
/// let error = runtrace_otel::OtelError::UnsupportedProtocol("grpc".into());
/// assert!(error.to_string().contains("http/protobuf"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtelError {
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (or `..._TRACES_PROTOCOL`) names a protocol this crate
    /// does not speak.
    #[error("OTLP protocol {0:?} is not supported: use `http/protobuf` (the default) or `http/json`")]
    UnsupportedProtocol(String),
    /// The OTLP exporter refused its configuration (an endpoint that is not a URL, say).
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}
