//! Why an exporter could not be made.

/// Why a [`LangSmithExporter`](crate::LangSmithExporter) could not be made.
///
/// ```
/// let error = runtrace_langsmith::LangSmithExporter::builder().with_endpoint("not a url").build().unwrap_err();
/// assert!(error.to_string().contains("not a url"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LangSmithError {
    /// The endpoint is not an `http` or `https` URL.
    #[error("the LangSmith endpoint `{0}` is not an http(s) URL")]
    Endpoint(String),
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The background thread that sends runs could not be started.
    #[error("could not start the thread that sends runs: {0}")]
    Thread(#[from] std::io::Error),
}
