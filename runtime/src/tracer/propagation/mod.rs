//! Distributed tracing: a run's place in its trace, written to HTTP-style headers in one
//! process and read back in another, where it becomes the parent of the runs started there.
//!
//! The headers are LangSmith's: `langsmith-trace` carries the run's dotted order, and the
//! W3C `baggage` header carries the inheritable tags and metadata and the LangSmith project
//! as `langsmith-metadata=<percent-encoded JSON>,langsmith-tags=<percent-encoded comma
//! list>,langsmith-project=<percent-encoded name>`. Both are read as untrusted input:
//! bounded in size, never a panic. What [`TraceContext::to_headers`] writes,
//! [`TraceContext::from_headers`] reads whole.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

mod baggage;
mod error;
mod percent;

use serde_json::{Map, Value};

pub use error::HeaderError;

use super::Tracer;
use super::dotted_order::parse_segment;
use crate::event::{RunId, RunInfo, RunKind};
use crate::run::{CallbackManager, RunManager};

const TRACE_HEADER: &str = TraceContext::TRACE_HEADER;
const BAGGAGE_HEADER: &str = TraceContext::BAGGAGE_HEADER;
const MAX_TRACE_LEN: usize = TraceContext::MAX_TRACE_LEN;

/// A run's place in its trace, as it crosses a process boundary: the run's id, its trace's
/// id, its dotted order, the tags and metadata its children inherit, and the LangSmith
/// project its trace is recorded in, if one was named.
///
/// The sending side gets it from the run ([`TraceContext::from_run`]) and sends
/// [`to_headers`](Self::to_headers); the receiving side reads it from the request's headers
/// ([`from_headers`](Self::from_headers)) and starts its runs under it with the manager
/// `CallbackManager::from(&context)`.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::propagation::TraceContext;
/// use runtrace_runtime::tracer::{RunCollector, Tracer};
///
/// // The client: a traced run calls a service, sending its context along.
/// let client_tracer = Tracer::new(RunCollector::new());
/// let callbacks = CallbackManager::new().with_handler(&client_tracer).with_tags(["eval"]);
/// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
/// let headers: Vec<(String, String)> =
///     TraceContext::from_run(&chain)?.to_headers().into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
///
/// // The service, in another process: its run joins the client's trace.
/// let parent = TraceContext::from_headers(headers)?;
/// let server = RunCollector::new();
/// let callbacks = CallbackManager::from(&parent).with_handler(Tracer::new(server.clone()));
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///
/// let tool = &server.trees()[0];
/// assert_eq!(tool.parent_run_id, chain.run_id());
/// assert_eq!(Some(tool.trace_id), chain.trace_id());
/// assert!(tool.dotted_order.starts_with(parent.dotted_order()));
/// assert_eq!(tool.tags, ["eval"]);
/// # chain.end(&4)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TraceContext {
    run_id: RunId,
    trace_id: RunId,
    parent_run_id: Option<RunId>,
    dotted_order: Arc<str>,
    tags: Vec<String>,
    metadata: Map<String, Value>,
    project: Option<String>,
}

impl TraceContext {
    /// The header carrying the dotted order of the parent run.
    ///
    /// ```
    /// use runtrace_runtime::CallbackManager;
    /// use runtrace_runtime::RunKind;
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(RunCollector::new()));
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// let headers = TraceContext::from_run(&chain)?.to_headers();
    /// let trace = headers.iter().find(|(name, _)| *name == TraceContext::TRACE_HEADER).expect("always sent");
    /// assert!(trace.1.ends_with(&chain.run_id().expect("a handler listens").to_string()));
    /// # chain.end(&4)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const TRACE_HEADER: &'static str = "langsmith-trace";

    /// The W3C baggage header, carrying inheritable tags and metadata, and the project.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let context = TraceContext::from_dotted_order(root)?.with_project("evals");
    /// let headers = context.to_headers();
    /// let baggage = headers.iter().find(|(name, _)| *name == TraceContext::BAGGAGE_HEADER);
    /// let baggage = baggage.expect("sent: there is a project");
    /// assert!(baggage.1.contains("langsmith-project=evals"));
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    pub const BAGGAGE_HEADER: &'static str = "baggage";

    /// The longest `langsmith-trace` value accepted, in bytes: the dotted order of a run
    /// about 1,100 levels deep.
    ///
    /// LangSmith sets no limit. A dotted order grows by 59 bytes a level, so this one is far
    /// above the depth of real programs and only bounds what a reader parses; a run deeper
    /// still cannot write its context ([`from_run`](Self::from_run) says so). HTTP servers
    /// and proxies often refuse long headers first, by default: nginx and Apache a header
    /// line over 8 KiB (a run about 138 levels deep), Node.js and uvicorn 16 KiB of headers
    /// in all.
    ///
    /// ```
    /// use runtrace_runtime::propagation::{HeaderError, TraceContext};
    ///
    /// let too_long = "x".repeat(TraceContext::MAX_TRACE_LEN + 1);
    /// let refused = TraceContext::from_headers([("langsmith-trace", too_long)]);
    /// assert!(matches!(refused, Err(HeaderError::TooLong { header: "langsmith-trace", .. })));
    /// ```
    pub const MAX_TRACE_LEN: usize = 64 * 1024;

    /// The longest list of `baggage` members read, in bytes, several `baggage` headers
    /// counted as one list: W3C's limit. A member that ends past it is skipped; the writer
    /// keeps within it.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let tags = format!("langsmith-project=evals,langsmith-tags={}", "a".repeat(TraceContext::MAX_BAGGAGE_LEN));
    /// let context = TraceContext::from_headers([("langsmith-trace", root), ("baggage", &tags)])?;
    /// assert_eq!((context.project(), context.tags().len()), (Some("evals"), 0));
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    pub const MAX_BAGGAGE_LEN: usize = 8192;

    /// The most `baggage` members read, W3C's limit; the members after are skipped.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let others = vec!["vendor=x"; TraceContext::MAX_BAGGAGE_MEMBERS].join(",");
    /// let baggage = format!("{others},langsmith-tags=eval");
    /// let context = TraceContext::from_headers([("langsmith-trace", root), ("baggage", &baggage)])?;
    /// assert!(context.tags().is_empty());
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    pub const MAX_BAGGAGE_MEMBERS: usize = 180;

    /// Reads the context from request headers: `(name, value)` pairs, names matched without
    /// regard to case (HTTP's rule), several `baggage` headers read as one list.
    ///
    /// The trace is joined whenever `langsmith-trace` is valid, as LangSmith's SDK does:
    /// `baggage` members that cannot be read (not `key=value`, bad percent-encoding,
    /// metadata that is not a JSON object) or that lie past [`MAX_BAGGAGE_LEN`] or
    /// [`MAX_BAGGAGE_MEMBERS`] are skipped, with one `tracing` warning (target `runtrace`)
    /// saying which; members of other vendors are passed over.
    ///
    /// [`MAX_BAGGAGE_LEN`]: Self::MAX_BAGGAGE_LEN
    /// [`MAX_BAGGAGE_MEMBERS`]: Self::MAX_BAGGAGE_MEMBERS
    ///
    /// # Errors
    ///
    /// A [`HeaderError`] saying why `langsmith-trace` is missing, repeated, too long or
    /// malformed.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let headers = [
    ///     ("Langsmith-Trace", root),
    ///     ("baggage", "langsmith-tags=eval%2Cprod,vendor=x;prop,langsmith-metadata=%7Bbroken"),
    /// ];
    /// let context = TraceContext::from_headers(headers)?;
    /// assert_eq!(context.run_id().to_string(), "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
    /// assert_eq!(context.trace_id(), context.run_id());
    /// assert_eq!(context.tags(), ["eval", "prod"]);
    /// assert!(context.metadata().is_empty(), "the broken member was skipped");
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn from_headers<I, K, V>(headers: I) -> Result<TraceContext, HeaderError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut trace: Option<String> = None;
        let mut baggage = baggage::Reader::default();
        for (name, value) in headers {
            let (name, value) = (name.as_ref().trim(), value.as_ref());
            if name.eq_ignore_ascii_case(TRACE_HEADER) {
                check_len(value.len())?;
                if trace.is_some() {
                    return Err(HeaderError::RepeatedTrace);
                }
                trace = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case(BAGGAGE_HEADER) {
                baggage.read(value);
            }
        }
        let mut context = TraceContext::from_dotted_order(trace.as_deref().unwrap_or(""))?;
        let baggage = baggage.finish();
        context.tags = baggage.tags.unwrap_or_default();
        context.metadata = baggage.metadata.unwrap_or_default();
        context.project = baggage.project;
        Ok(context)
    }

    /// The context of the run with this dotted order, with no tags or metadata: what
    /// `langsmith-trace` alone says.
    ///
    /// # Errors
    ///
    /// [`HeaderError::MissingTrace`] for an empty string, else as [`from_headers`](Self::from_headers).
    ///
    /// ```
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let child = format!("{root}.20240506T070809123999Z5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77");
    /// let context = runtrace_runtime::propagation::TraceContext::from_dotted_order(&child)?;
    /// assert_eq!(context.parent_run_id().unwrap().to_string(), "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn from_dotted_order(dotted_order: &str) -> Result<TraceContext, HeaderError> {
        check_len(dotted_order.len())?;
        let dotted_order = dotted_order.trim_matches([' ', '\t']);
        if dotted_order.is_empty() {
            return Err(HeaderError::MissingTrace);
        }
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        for (index, segment) in dotted_order.split('.').enumerate() {
            let id = parse_segment(segment).map_err(|problem| HeaderError::InvalidTrace { segment: index, problem })?;
            if !seen.insert(id) {
                return Err(HeaderError::RepeatedRunId { segment: index });
            }
            ids.push(id);
        }
        let (Some(&trace_id), Some(&run_id)) = (ids.first(), ids.last()) else {
            return Err(HeaderError::MissingTrace);
        };
        let parent_run_id = ids.len().checked_sub(2).map(|index| ids[index]);
        Ok(TraceContext {
            run_id,
            trace_id,
            parent_run_id,
            dotted_order: dotted_order.into(),
            tags: Vec::new(),
            metadata: Map::new(),
            project: None,
        })
    }

    /// The headers to send: `langsmith-trace`, and `baggage` when there are tags, metadata
    /// or a project. Tags are joined with commas, as LangSmith does, so a tag that contains
    /// a comma arrives as several, and an empty one does not arrive.
    ///
    /// `baggage` is kept within [`MAX_BAGGAGE_LEN`](Self::MAX_BAGGAGE_LEN), so that
    /// [`from_headers`](Self::from_headers) reads all of it: the project goes in first, then
    /// the tags and the metadata entries, in order, each if it still fits, and a `tracing`
    /// warning (target `runtrace`) names what was left out.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let context = TraceContext::from_dotted_order(root)?;
    /// assert_eq!(context.to_headers(), [("langsmith-trace", root.to_owned())]);
    ///
    /// let context = context.with_project("evals");
    /// let headers = context.to_headers();
    /// assert_eq!(headers[1], ("baggage", "langsmith-project=evals".to_owned()));
    /// assert_eq!(TraceContext::from_headers(headers)?, context);
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![(TRACE_HEADER, self.dotted_order.to_string())];
        if let Some(baggage) = baggage::write(&self.tags, &self.metadata, self.project.as_deref()) {
            headers.push((BAGGAGE_HEADER, baggage));
        }
        headers
    }

    /// The same context, its trace recorded in the LangSmith project `project`: sent as the
    /// `langsmith-project` baggage member, which tells a LangSmith SDK on the other side
    /// where to record its runs. [`from_run`](Self::from_run) fills it in from the run's
    /// tracer; this sets or replaces it. An empty name means no project.
    ///
    /// ```
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let context = runtrace_runtime::propagation::TraceContext::from_dotted_order(root)?.with_project("evals");
    /// assert_eq!(context.project(), Some("evals"));
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn with_project(mut self, project: impl Into<String>) -> TraceContext {
        let project = project.into();
        self.project = (!project.is_empty()).then_some(project);
        self
    }

    /// The run this context belongs to: the remote parent.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(RunCollector::new()));
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// let context = TraceContext::from_run(&chain)?;
    /// assert_eq!(Some(context.run_id()), chain.run_id());
    /// # chain.end(&4)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The id of its trace's root.
    ///
    /// ```
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let child = format!("{root}.20240506T070809123999Z5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77");
    /// let context = runtrace_runtime::propagation::TraceContext::from_dotted_order(&child)?;
    /// assert_eq!(context.trace_id().to_string(), "0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10");
    /// assert_eq!(context.run_id().to_string(), "5f0e52a4-8a8e-4d6b-b1a4-6f4f5b4b2d77");
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn trace_id(&self) -> RunId {
        self.trace_id
    }

    /// The id of its own parent, if it is not the root.
    ///
    /// ```
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let context = runtrace_runtime::propagation::TraceContext::from_dotted_order(root)?;
    /// assert_eq!(context.parent_run_id(), None, "a root has no parent");
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn parent_run_id(&self) -> Option<RunId> {
        self.parent_run_id
    }

    /// Its dotted order, which its children's extend.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let parent = TraceContext::from_dotted_order(root)?;
    /// let server = RunCollector::new();
    /// let callbacks = CallbackManager::from(&parent).with_handler(Tracer::new(server.clone()));
    /// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// let tool = &server.trees()[0];
    /// assert!(tool.dotted_order.starts_with(&format!("{}.", parent.dotted_order())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn dotted_order(&self) -> &str {
        &self.dotted_order
    }

    /// The tags its children inherit.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(RunCollector::new())).with_tags(["eval"]);
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// assert_eq!(TraceContext::from_run(&chain)?.tags(), ["eval"]);
    /// # chain.end(&4)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The metadata its children inherit.
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let baggage = "langsmith-metadata=%7B%22user%22%3A%22ada%22%7D";
    /// let context = TraceContext::from_headers([("langsmith-trace", root), ("baggage", baggage)])?;
    /// assert_eq!(context.metadata()["user"], "ada");
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// The LangSmith project its trace is recorded in, when the sender named one (the
    /// `langsmith-project` baggage member).
    ///
    /// ```
    /// use runtrace_runtime::propagation::TraceContext;
    ///
    /// let root = "20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10";
    /// let context = TraceContext::from_headers([("langsmith-trace", root), ("baggage", "langsmith-project=evals%202")])?;
    /// assert_eq!(context.project(), Some("evals 2"));
    /// # Ok::<(), runtrace_runtime::propagation::HeaderError>(())
    /// ```
    #[must_use]
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }
}

fn check_len(len: usize) -> Result<(), HeaderError> {
    if len > MAX_TRACE_LEN {
        return Err(HeaderError::TooLong { header: TRACE_HEADER, len, max: MAX_TRACE_LEN });
    }
    Ok(())
}

impl TraceContext {
    /// The place of `run` in its trace, to continue the trace in another process. Its
    /// dotted order and project come from a [`Tracer`] among the run's handlers (the first
    /// that holds it), so ask while the run is going: the project its trace's headers named,
    /// else the tracer's ([`Tracer::with_project`]), else none.
    ///
    /// # Errors
    ///
    /// [`HeaderError::NotRecording`] for a run with no handlers, [`HeaderError::Untraced`]
    /// when no tracer holds the run, [`HeaderError::TooLong`] for a run so deep that its
    /// dotted order is longer than [`MAX_TRACE_LEN`](Self::MAX_TRACE_LEN), which no reader
    /// would accept.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::propagation::TraceContext;
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(RunCollector::new()));
    /// let run = callbacks.start_run(RunKind::Chain, "answer", &())?;
    /// let context = TraceContext::from_run(&run)?;
    /// assert_eq!(Some(context.run_id()), run.run_id());
    /// assert_eq!(context.to_headers()[0].0, "langsmith-trace");
    /// # run.end(&())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_run(run: &RunManager) -> Result<TraceContext, HeaderError> {
        let info = run.info().ok_or(HeaderError::NotRecording)?;
        let placement = Tracer::holding(run.handlers())
            .find_map(|tracer| tracer.core.placement(info.run_id, info.trace_id))
            .ok_or(HeaderError::Untraced { run_id: info.run_id })?;
        check_len(placement.dotted_order.len())?;
        let children = run.children();
        Ok(TraceContext {
            run_id: info.run_id,
            trace_id: placement.trace_id,
            parent_run_id: placement.parent_run_id,
            dotted_order: placement.dotted_order.into(),
            tags: children.inheritable_tags().to_vec(),
            metadata: children.inheritable_metadata().to_map(),
            project: placement.project,
        })
    }
}

/// A manager whose runs are children of the run of another process, read from headers: they
/// get its id as parent id, its trace id, dotted orders that extend its own, and its tags and
/// metadata as inheritable ones. Add handlers to it as to any manager. Trace scopes and
/// `RUNTRACE_TRACE` treat such runs as roots, the first of their tree in this process.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::handlers::ConsoleHandler;
/// use runtrace_runtime::propagation::TraceContext;
///
/// let parent = TraceContext::from_dotted_order("20240506T070809123456Z0b3a8c7e-0d5c-4a43-9d3a-2f1d6e1c9a10")?;
/// let callbacks = CallbackManager::from(&parent).with_handler(ConsoleHandler::new().with_writer(std::io::sink()));
/// let run = callbacks.start_run(RunKind::Chain, "serve", &())?;
/// assert_eq!(run.parent_run_id(), Some(parent.run_id()));
/// assert_eq!(run.trace_id(), Some(parent.trace_id()));
/// # run.end(&())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl From<&TraceContext> for CallbackManager {
    fn from(parent: &TraceContext) -> CallbackManager {
        let grandparent_order = parent.dotted_order.rsplit_once('.').map(|(before, _)| Arc::from(before));
        let info = RunInfo {
            run_id: parent.run_id,
            parent_run_id: parent.parent_run_id,
            trace_id: parent.trace_id,
            kind: RunKind::Chain,
            name: Cow::Borrowed("remote parent"),
            parent_dotted_order: grandparent_order,
            // What the runs started under it take as their `parent_project`.
            parent_project: parent.project.as_deref().map(Arc::from),
        };
        CallbackManager::new()
            .with_remote_parent(info, Arc::clone(&parent.dotted_order))
            .with_tags(&parent.tags)
            .with_metadata(parent.metadata.iter().map(|(k, v)| (k.clone(), v.clone())))
    }
}
