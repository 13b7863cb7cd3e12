//! The console handler's lines: each names its run's place in the tree, the breadcrumb path,
//! shortened with `…` for deep trees.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use runtrace::handlers::ConsoleHandler;
use runtrace::{CallbackError, CallbackManager, RunGuard, RunKind};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts `depth` chains, each the child of the one before, and ends them innermost first.
fn chain_of(depth: usize, callbacks: &CallbackManager) -> Result<(), CallbackError> {
    let mut open: Vec<RunGuard> = Vec::with_capacity(depth);
    for level in 1..=depth {
        let run = match open.last() {
            Some(parent) => parent.children().start_run(RunKind::Chain, "step", &level)?,
            None => callbacks.start_run(RunKind::Chain, "step", &level)?,
        };
        open.push(run);
    }
    while let Some(run) = open.pop() {
        run.end(&())?;
    }
    Ok(())
}

/// The breadcrumb of a line: what its first `[...]` after the label holds.
fn path(line: &str) -> &str {
    let after_label = line.split_once("] [").map_or("", |(_, rest)| rest);
    after_label.split_once(']').map_or("", |(path, _)| path)
}

#[test]
fn paths_up_to_six_runs_deep_print_whole() -> Result<(), CallbackError> {
    let out = Captured::default();
    let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(out.clone()));

    chain_of(6, &callbacks)?;

    let lines = out.lines();
    assert_eq!(path(&lines[0]), "1:chain:step");
    assert_eq!(
        path(&lines[5]),
        "1:chain:step > 2:chain:step > 3:chain:step > 4:chain:step > 5:chain:step > 6:chain:step"
    );
    assert_eq!(path(&lines[6]), path(&lines[5]), "the end of the deepest run");
    Ok(())
}

/// Regression: every run kept its whole path, so the breadcrumbs of a chain `n` deep took
/// memory growing with `n²` (4.7 GB at 20,000) and printed lines as long as the chain.
#[test]
fn paths_of_a_20000_deep_chain_print_the_root_an_ellipsis_and_the_last_five_runs() -> Result<(), CallbackError> {
    let out = Captured::default();
    let callbacks = CallbackManager::new().with_handler(ConsoleHandler::new().with_writer(out.clone()));

    chain_of(20_000, &callbacks)?;

    let lines = out.lines();
    assert_eq!(lines.len(), 40_000);
    assert_eq!(
        path(&lines[19_999]),
        "1:chain:step > … > 19996:chain:step > 19997:chain:step > 19998:chain:step > 19999:chain:step > 20000:chain:step"
    );
    assert_eq!(
        path(&lines[6]),
        "1:chain:step > … > 3:chain:step > 4:chain:step > 5:chain:step > 6:chain:step > 7:chain:step"
    );
    assert_eq!(path(&lines[39_999]), "1:chain:step", "the root's end, after every child ended");
    let longest = lines.iter().map(String::len).max().unwrap_or(0);
    assert!(longest < 200, "a line of {longest} bytes");
    Ok(())
}
