//! What an [`OtelHandler`](crate::OtelHandler) writes and how it exports: the conventions,
//! message content, streamed tokens, limits and the export queue.

use std::sync::OnceLock;
use std::time::Duration;

use crate::value::DEFAULT_MAX_ATTRIBUTE_LEN;

/// The standard switch for message content, read once: `true` or `false`, in any case.
pub const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// How streamed tokens appear on a model run's span.
///
/// Either way the span carries how many tokens streamed and when the first one came
/// ([`runtrace::STREAMED_TOKENS`](crate::attributes::runtrace::STREAMED_TOKENS),
/// [`TIME_TO_FIRST_TOKEN_MS`](crate::attributes::runtrace::TIME_TO_FIRST_TOKEN_MS)).
///
/// ```
/// use runtrace_otel::{OtelHandler, TokenEvents};
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
///
/// let otel = OtelHandler::builder(InMemorySpanExporter::default()).with_token_events(TokenEvents::CountOnly).build();
/// # drop(otel);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEvents {
    /// One span event `new_token` per token, its text in `token` when message content is
    /// recorded. The default; at most [`MAX_SPAN_EVENTS`] events a span.
    #[default]
    Each,
    /// No event per token: only their count and the first token's time.
    CountOnly,
}

/// The most events one span carries; later ones are counted as dropped on the span.
pub const MAX_SPAN_EVENTS: usize = 1024;

/// The settings of an [`OtelHandler`](crate::OtelHandler), read once when it is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) genai: bool,
    pub(crate) openinference: bool,
    pub(crate) langsmith: bool,
    pub(crate) langfuse: bool,
    pub(crate) content: bool,
    pub(crate) token_events: TokenEvents,
    pub(crate) max_attribute_len: usize,
    pub(crate) event_queue: usize,
    pub(crate) max_queued_spans: usize,
    pub(crate) max_batch: usize,
    pub(crate) scheduled_delay: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) delivery_wait: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_open_runs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            genai: true,
            openinference: true,
            langsmith: true,
            langfuse: true,
            content: content_from_env(),
            token_events: TokenEvents::Each,
            max_attribute_len: DEFAULT_MAX_ATTRIBUTE_LEN,
            event_queue: 16 * 1024,
            max_queued_spans: 4096,
            max_batch: 512,
            scheduled_delay: Duration::from_secs(1),
            export_timeout: Duration::from_secs(10),
            delivery_wait: Duration::from_secs(2),
            max_backoff: Duration::from_secs(15),
            max_open_runs: 64 * 1024,
        }
    }
}

/// [`CAPTURE_CONTENT_ENV`], read once; a value that is neither `true` nor `false` gets one
/// warning on stderr and records no content.
pub(crate) fn content_from_env() -> bool {
    static CONTENT: OnceLock<bool> = OnceLock::new();
    *CONTENT.get_or_init(|| parse_switch(CAPTURE_CONTENT_ENV, std::env::var(CAPTURE_CONTENT_ENV).ok().as_deref()))
}

fn parse_switch(name: &str, value: Option<&str>) -> bool {
    match value.map(str::trim) {
        None | Some("") => false,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            eprintln!("runtrace-otel: {name}={value:?} is neither `true` nor `false`; message content is not recorded");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_switch;

    #[test]
    fn the_content_switch_reads_true_and_false_in_any_case() {
        assert!(parse_switch("X", Some("TRUE")));
        assert!(parse_switch("X", Some(" True ")));
        assert!(!parse_switch("X", Some("false")));
        assert!(!parse_switch("X", Some("FaLsE")));
        assert!(!parse_switch("X", Some("yes")));
        assert!(!parse_switch("X", None));
    }
}
