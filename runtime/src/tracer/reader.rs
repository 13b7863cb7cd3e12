//! Reading a JSON Lines trace file back: [`JsonlReader`], one tree a line, where a bad line
//! costs that line only.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::deep;
use super::run_tree::RunTree;

/// What reading a JSON Lines trace file can fail with.
///
/// ```
/// let missing = runtrace_runtime::tracer::RunTree::read_jsonl("/no/such/runs.jsonl");
/// assert!(matches!(missing, Err(runtrace_runtime::tracer::ReadError::Io(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("could not read the trace file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a run tree.
    #[error("line {line} of the trace file is not a run tree: {source}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
}

/// The trees of a JSON Lines trace file, one per line, as
/// [`JsonlExporter`](crate::tracer::JsonlExporter) writes them: an iterator of each line's
/// tree, or of why that line is not one.
///
/// - A bad line costs that line only: the last line of a file torn by a crash mid-write,
///   cut inside a multi-byte character or not, is one [`ReadError::Line`] with its number,
///   and the trees around it are read. Lines are read as bytes, never as text of the whole
///   file.
/// - Trees of any depth read back, as do inputs and outputs nested any number of levels
///   (serde_json alone refuses more than 128).
/// - Blank lines are skipped. An I/O error is yielded once, and ends the iteration.
///
/// ```
/// use runtrace_runtime::{CallbackManager, RunKind};
/// use runtrace_runtime::tracer::{JsonlReader, ReadError, collect_runs};
///
/// let (ended, trees) = collect_runs(|| {
///     CallbackManager::none().start_run(RunKind::Tool, "calculator", &"2+2")?.end(&4)
/// });
/// ended?;
/// let line = serde_json::to_string(&trees[0])?;
/// // A whole tree, then one torn by a crash mid-write.
/// let file = format!("{line}\n{}", &line[..line.len() / 2]);
///
/// let read: Vec<Result<_, ReadError>> = JsonlReader::new(file.as_bytes()).collect();
/// assert_eq!(read[0].as_ref().map(|tree| tree.name.as_str()).ok(), Some("calculator"));
/// assert!(matches!(read[1], Err(ReadError::Line { line: 2, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonlReader<R> {
    reader: R,
    /// The number of the last line read, from 1.
    line: usize,
    buffer: Vec<u8>,
    done: bool,
}

/// A line buffer grown past this by one long line is given back, not kept for the next.
const KEPT_BUFFER: usize = 1 << 20;

impl JsonlReader<BufReader<File>> {
    /// A reader of the file at `path`.
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] if the file cannot be opened.
    ///
    /// ```no_run
    /// use runtrace_runtime::tracer::JsonlReader;
    ///
    /// for tree in JsonlReader::open("runs.jsonl")? {
    ///     match tree {
    ///         Ok(tree) => println!("{} took {:?}", tree.name, tree.duration()),
    ///         Err(error) => eprintln!("{error}"),
    ///     }
    /// }
    /// # Ok::<(), runtrace_runtime::tracer::ReadError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        Ok(JsonlReader::new(BufReader::new(File::open(path)?)))
    }
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader of the lines of `reader`.
    ///
    /// ```
    /// let trees = runtrace_runtime::tracer::JsonlReader::new(&b"\n"[..]);
    /// assert_eq!(trees.count(), 0);
    /// ```
    pub fn new(reader: R) -> Self {
        JsonlReader { reader, line: 0, buffer: Vec::new(), done: false }
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<RunTree, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.buffer.capacity() > KEPT_BUFFER {
                self.buffer = Vec::new();
            }
            self.buffer.clear();
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    if self.buffer.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let line = self.line;
                    return Some(deep::from_json(&self.buffer).map_err(|source| ReadError::Line { line, source }));
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error.into()));
                }
            }
        }
        None
    }
}

impl RunTree {
    /// Reads every tree of a JSON Lines file, failing at the first line that is not one.
    /// To keep the good trees of a file that may hold a torn line (the last one, after a
    /// crash mid-write), iterate a [`JsonlReader`] instead.
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] if the file cannot be read, [`ReadError::Line`] for the first line
    /// that is not a run tree.
    ///
    /// ```no_run
    /// for tree in runtrace_runtime::tracer::RunTree::read_jsonl("runs.jsonl")? {
    ///     println!("{} took {:?}", tree.name, tree.duration());
    /// }
    /// # Ok::<(), runtrace_runtime::tracer::ReadError>(())
    /// ```
    pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<RunTree>, ReadError> {
        JsonlReader::open(path)?.collect()
    }

    /// [`read_jsonl`](Self::read_jsonl) from any reader.
    ///
    /// # Errors
    ///
    /// As [`read_jsonl`](Self::read_jsonl).
    ///
    /// ```
    /// let trees = runtrace_runtime::tracer::RunTree::from_jsonl("\n".as_bytes())?;
    /// assert!(trees.is_empty());
    /// # Ok::<(), runtrace_runtime::tracer::ReadError>(())
    /// ```
    pub fn from_jsonl(reader: impl BufRead) -> Result<Vec<RunTree>, ReadError> {
        JsonlReader::new(reader).collect()
    }
}
