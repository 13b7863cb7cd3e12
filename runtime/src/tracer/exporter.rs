//! Where finished trees go: the [`Exporter`] trait, a JSON Lines file, an in-memory collector.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::deep;
use super::run_tree::RunTree;
use crate::dispatch::report;
use crate::handler::HandlerError;

/// Receives each root tree a [`Tracer`](crate::tracer::Tracer) finishes, once its root ends.
///
/// Called inline, on the thread that ended the root run, outside the tracer's locks. An
/// error is reported (a `tracing` warning) and the traced code goes on. Pairs export to
/// both, as do vectors of exporters.
///
/// ```
/// use runtrace_runtime::tracer::{ExportError, Exporter, RunTree, Tracer};
///
/// struct Printer;
///
/// impl Exporter for Printer {
///     fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
///         println!("{} finished with {} children", tree.name, tree.child_runs.len());
///         Ok(())
///     }
/// }
///
/// let tracer = Tracer::new(Printer);
/// ```
pub trait Exporter: Send + Sync + 'static {
    /// Exports one finished root tree.
    ///
    /// # Errors
    ///
    /// Whatever kept the tree from its destination; it is reported, never raised.
    fn export(&self, tree: &RunTree) -> Result<(), ExportError>;
}

/// Why an exporter could not export a tree.
///
/// ```
/// let error = runtrace_runtime::tracer::ExportError::other("collector is down");
/// assert_eq!(error.to_string(), "collector is down");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing failed.
    #[error("could not write the run tree: {0}")]
    Io(#[from] std::io::Error),
    /// The tree could not be turned into JSON.
    #[error("could not serialize the run tree: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Any other failure, from an exporter of your own.
    #[error("{0}")]
    Other(#[source] HandlerError),
}

impl ExportError {
    /// Wraps an error of your own exporter.
    ///
    /// ```
    /// use runtrace_runtime::tracer::{ExportError, Exporter, RunTree};
    ///
    /// /// Keeps traces only from the names it was told about.
    /// struct Allowlist(Vec<&'static str>);
    ///
    /// impl Exporter for Allowlist {
    ///     fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
    ///         if !self.0.contains(&tree.name.as_str()) {
    ///             return Err(ExportError::other(format!("`{}` is not on the allowlist", tree.name)));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use runtrace_runtime::{CallbackManager, RunKind};
    /// # let (_, trees) = runtrace_runtime::tracer::collect_runs(|| {
    /// #     CallbackManager::none().start_run(RunKind::Tool, "shell", &"ls")?.end(&"a.md")
    /// # });
    /// let refused = Allowlist(vec!["calculator"]).export(&trees[0]).unwrap_err();
    /// assert_eq!(refused.to_string(), "`shell` is not on the allowlist");
    /// assert!(matches!(refused, ExportError::Other(_)));
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn other(error: impl Into<HandlerError>) -> Self {
        ExportError::Other(error.into())
    }
}

/// Appends each root tree as one line of JSON to a file, flushed tree by tree, so a crash
/// loses at most the trees whose roots had not ended.
///
/// The file is created if missing and appended to if not; each tree is written with one
/// `write` call, so lines from several processes appending to one file stay whole.
/// `cargo run --example trace_view -- runs.jsonl` draws the file as a tree, and
/// [`JsonlReader`](crate::tracer::JsonlReader) reads it back.
///
/// Log rotation loses nothing: before each tree, the exporter checks that its path still
/// names the file it has open (on Unix, the same device and inode; elsewhere, that the path
/// exists), and if the file was renamed or deleted, it opens the path again, creating a new
/// file there, with a warning the first time. If the path cannot be opened then, the tree
/// goes to the file it had open, and it tries again at the next tree.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{JsonlExporter, RunTree, Tracer};
///
/// let path = std::env::temp_dir().join(format!("runtrace-doc-{}.jsonl", std::process::id()));
/// let tracer = Tracer::new(JsonlExporter::open(&path)?);
/// let callbacks = CallbackManager::new().with_handler(&tracer);
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
///
/// let trees = RunTree::read_jsonl(&path)?;
/// assert_eq!(trees[0].name, "calculator");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonlExporter {
    path: PathBuf,
    file: Mutex<OpenFile>,
    /// Whether a rotation was reported: the first is worth a warning, the next are routine.
    rotated: AtomicBool,
}

/// The file an exporter writes, and what tells it apart from another file at its path.
#[derive(Debug)]
struct OpenFile {
    file: File,
    identity: Option<FileIdentity>,
}

impl JsonlExporter {
    /// Opens `path` for appending, creating it if missing.
    ///
    /// # Errors
    ///
    /// [`ExportError::Io`] if the file cannot be opened (a missing directory, no permission).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("runtrace-doc-open-{}.jsonl", std::process::id()));
    /// let exporter = runtrace_runtime::tracer::JsonlExporter::open(&path)?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        let path = path.as_ref().to_owned();
        let file = OpenFile::open(&path)?;
        Ok(JsonlExporter { path, file: Mutex::new(file), rotated: AtomicBool::new(false) })
    }

    /// The file's path.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("runtrace-doc-path-{}.jsonl", std::process::id()));
    /// let exporter = runtrace_runtime::tracer::JsonlExporter::open(&path)?;
    /// assert_eq!(exporter.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again if it no longer names the open file (see the type's documentation).
    fn follow_rotation(&self, open: &mut OpenFile) {
        if open.is_at(&self.path) {
            return;
        }
        match OpenFile::open(&self.path) {
            Ok(reopened) => {
                *open = reopened;
                if self.rotated.swap(true, Ordering::Relaxed) {
                    tracing::debug!(target: "runtrace", path = %self.path.display(),
                        "the trace file was renamed or deleted; the next trees go to a new file at its path");
                } else {
                    report::warn_once(
                        &format!("trace file rotated: {}", self.path.display()),
                        &format_args!(
                            "the trace file {} was renamed or deleted (rotated?); the next trees go to a new file \
                             at its path",
                            self.path.display()
                        ),
                    );
                }
            }
            Err(error) => report::warn_once(
                &format!("trace file cannot be reopened: {}", self.path.display()),
                &format_args!(
                    "the trace file {} was renamed or deleted, and its path cannot be opened again ({error}); \
                     the trees go to the file it had open",
                    self.path.display()
                ),
            ),
        }
    }
}

impl OpenFile {
    fn open(path: &Path) -> std::io::Result<OpenFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let identity = file.metadata().ok().map(|metadata| FileIdentity::of(&metadata));
        Ok(OpenFile { file, identity })
    }

    /// Whether `path` still names this file. Unknown (the path cannot be looked at for a
    /// reason other than its absence) counts as yes: the file it has is the best guess.
    fn is_at(&self, path: &Path) -> bool {
        match std::fs::metadata(path) {
            Ok(metadata) => self.identity.is_none_or(|identity| identity == FileIdentity::of(&metadata)),
            Err(error) => error.kind() != std::io::ErrorKind::NotFound,
        }
    }
}

/// What tells two files apart: their device and inode on Unix. Elsewhere nothing does, and
/// only a path that no longer exists is seen as rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    #[cfg(unix)]
    device: u64,
    #[cfg(unix)]
    inode: u64,
}

impl FileIdentity {
    #[cfg(unix)]
    fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity { device: metadata.dev(), inode: metadata.ino() }
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {}
    }
}

impl Exporter for JsonlExporter {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        let mut line = deep::to_json(tree)?;
        line.push(b'\n');
        // A writer that panicked mid-line leaves the file as it was; the next line is whole.
        let mut open = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        self.follow_rotation(&mut open);
        open.file.write_all(&line)?;
        open.file.flush()?;
        Ok(())
    }
}

/// Keeps every root tree in memory: the exporter behind
/// [`collect_runs`](crate::tracer::collect_runs), and the one to assert on in tests. Clones share
/// the same trees.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{RunCollector, Tracer};
///
/// let collector = RunCollector::new();
/// let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
/// callbacks.start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
/// assert_eq!(collector.len(), 1);
/// assert_eq!(collector.take()[0].name, "calculator");
/// assert!(collector.is_empty());
/// # Ok::<(), runtrace_runtime::CallbackError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunCollector {
    trees: Arc<Mutex<Vec<RunTree>>>,
}

impl RunCollector {
    /// An empty collector.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the trees so far, in the order their roots ended.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
    /// let slow = callbacks.start_run(RunKind::Chain, "slow", &())?;
    /// callbacks.start_run(RunKind::Tool, "fast", &())?.end(&())?;
    /// slow.end(&())?;
    ///
    /// let names: Vec<_> = collector.trees().iter().map(|tree| tree.name.clone()).collect();
    /// assert_eq!(names, ["fast", "slow"]);
    /// assert_eq!(collector.len(), 2, "trees() copies, it does not take");
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn trees(&self) -> Vec<RunTree> {
        self.lock().clone()
    }

    /// The trees so far, leaving the collector empty.
    #[must_use]
    pub fn take(&self) -> Vec<RunTree> {
        std::mem::take(&mut *self.lock())
    }

    /// How many trees were collected.
    ///
    /// Trees, not runs: a root and its children are one tree.
    ///
    /// ```
    /// use runtrace_runtime::{CallbackManager, RunKind};
    /// use runtrace_runtime::tracer::{RunCollector, Tracer};
    ///
    /// let collector = RunCollector::new();
    /// let callbacks = CallbackManager::new().with_handler(Tracer::new(collector.clone()));
    /// let chain = callbacks.start_run(RunKind::Chain, "answer", &"2+2?")?;
    /// chain.children().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)?;
    /// assert_eq!(collector.len(), 0, "the root has not ended");
    /// chain.end(&"4")?;
    /// assert_eq!(collector.len(), 1);
    /// # Ok::<(), runtrace_runtime::CallbackError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no tree was collected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RunTree>> {
        self.trees.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Exporter for RunCollector {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        self.lock().push(tree.clone());
        Ok(())
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        (**self).export(tree)
    }
}

impl<E: Exporter + ?Sized> Exporter for Arc<E> {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        (**self).export(tree)
    }
}

/// Exports to both; the first error is returned after both had the tree.
impl<A: Exporter, B: Exporter> Exporter for (A, B) {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        let first = self.0.export(tree);
        let second = self.1.export(tree);
        first.and(second)
    }
}

/// Exports to each; the first error is returned after every one had the tree.
impl<E: Exporter> Exporter for Vec<E> {
    fn export(&self, tree: &RunTree) -> Result<(), ExportError> {
        self.iter().map(|exporter| exporter.export(tree)).fold(Ok(()), Result::and)
    }
}
