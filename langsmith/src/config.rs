//! What an exporter is told: where to send, with which key and workspace, into which project,
//! and the bounds of its queue, batches and retries.

use std::time::Duration;

/// LangSmith's API, where runs go unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://api.smith.langchain.com";

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) endpoint: String,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) workspace_id: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) max_queued_runs: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_batch_runs: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) timeout: Duration,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) delivery_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            api_key: None,
            workspace_id: None,
            project: None,
            max_queued_runs: 10_000,
            max_queued_bytes: 64 << 20,
            // The SDK's defaults, lowered further by what the server's `/info` says.
            max_batch_runs: 100,
            max_batch_bytes: 20 << 20,
            timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            max_attempts: 5,
            delivery_wait: Duration::from_secs(2),
        }
    }
}

/// An API key, which `Debug` does not print: a builder or an exporter in a log line must not
/// leak it.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Config {
    /// `path` under the endpoint, whether or not the endpoint ends with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.endpoint.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    /// Regression: a builder printed with `{:?}` showed its API key.
    #[test]
    fn a_builder_printed_shows_no_api_key() {
        let builder = crate::LangSmithExporter::builder().with_api_key("lsv2_sk_secret");
        let printed = format!("{builder:?}");
        assert!(!printed.contains("lsv2_sk_secret"), "{printed}");
        assert!(printed.contains(r#"api_key: Some("<redacted>")"#), "{printed}");
    }
}
