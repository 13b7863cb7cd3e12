//! `verbose = expr`: adds the console handler to the run, evaluated per call, local to the
//! run (its children do not print), and changing nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{recording, reports_to_console, starts};
use runtrace::prelude::*;

/// Whether this run and its child have the console handler.
#[traced_run(verbose = true)]
fn always(run: &RunManager) -> (bool, bool) {
    (reports_to_console(run), child(run))
}

#[traced_run(verbose = false)]
fn never(run: &RunManager) -> bool {
    reports_to_console(run)
}

#[traced_run(kind = "tool")]
fn child(run: &RunManager) -> bool {
    reports_to_console(run)
}

#[traced_run(verbose = debug)]
async fn when_asked(debug: bool, run: &RunManager) -> bool {
    reports_to_console(run)
}

#[test]
fn verbose_true_adds_the_console_to_the_run_and_not_to_its_children() {
    let (_recorder, callbacks) = recording();

    assert_eq!(always(&callbacks), (true, false));
    assert_eq!(always(CallbackManager::none()), (true, false));
}

#[test]
fn verbose_false_adds_nothing() {
    let (_recorder, callbacks) = recording();

    assert!(!never(&callbacks));
    assert!(!never(CallbackManager::none()));
}

#[test]
fn verbose_without_other_handlers_makes_the_run_heard_by_the_console_only() {
    assert_eq!(verbose_handlers(CallbackManager::none()), ["ConsoleHandler"]);
}

#[traced_run(verbose = true)]
fn verbose_handlers(run: &RunManager) -> Vec<String> {
    run.handlers().iter().map(|handler| handler.name().rsplit("::").next().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn verbose_expression_can_be_an_argument() {
    assert!(when_asked(true, CallbackManager::none()).await);
    assert!(!when_asked(false, CallbackManager::none()).await);
}

struct Chain {
    verbose: bool,
}

impl Chain {
    #[traced_run(verbose = self.verbose)]
    fn call(&self, run: &RunManager) -> bool {
        reports_to_console(run)
    }
}

#[test]
fn verbose_expression_is_evaluated_on_every_call() {
    let mut chain = Chain { verbose: false };
    assert!(!chain.call(CallbackManager::none()));
    chain.verbose = true;
    assert!(chain.call(CallbackManager::none()));
    chain.verbose = false;
    assert!(!chain.call(CallbackManager::none()));
}

static EVALUATIONS: AtomicUsize = AtomicUsize::new(0);

fn loud() -> bool {
    EVALUATIONS.fetch_add(1, Ordering::SeqCst);
    true
}

#[traced_run(verbose = loud())]
fn counted(run: &RunManager) -> bool {
    reports_to_console(run)
}

#[test]
fn verbose_expression_is_evaluated_once_per_call() {
    assert!(counted(CallbackManager::none()));
    assert!(counted(CallbackManager::none()));

    assert_eq!(EVALUATIONS.load(Ordering::SeqCst), 2);
}

#[traced_run(tags("t"), metadata(m = 1))]
fn quiet_twin(x: u8) -> u8 {
    x
}

#[traced_run(tags("t"), metadata(m = 1), verbose = true)]
fn quiet_twin_verbose(x: u8) -> u8 {
    x
}

#[test]
fn verbose_changes_nothing_the_other_handlers_hear() {
    let (recorder, callbacks) = recording();
    let callbacks = callbacks.with_tags(["request"]);

    quiet_twin(1, &callbacks);
    quiet_twin_verbose(1, &callbacks);

    let starts: Vec<String> = starts(&recorder)
        .into_iter()
        .map(|(_, start)| format!("{:?} {:?} {:?}", start.inputs, start.tags, start.metadata))
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0], starts[1]);
    assert_eq!(recorder.len(), 4);
}
