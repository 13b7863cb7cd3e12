//! Methods taking `&self`, `&mut self` and `self`, associated functions, and
//! constructor-scoped `callbacks = self.callbacks`.
use std::sync::Arc;

use runtrace::prelude::*;

struct Counter {
    count: u32,
    callbacks: CallbackManager,
}

impl Counter {
    #[traced_run(kind = "tool", skip_output)]
    fn new(start: u32) -> Self {
        Counter { count: start, callbacks: CallbackManager::new() }
    }

    #[traced_run(kind = "tool", callbacks = self.callbacks)]
    fn get(&self) -> u32 {
        self.count
    }

    #[traced_run(kind = "tool")]
    fn bump(&mut self, by: u32, run: &RunManager) -> u32 {
        run.on_text("bumping").unwrap();
        self.count += by;
        self.count
    }

    #[traced_run(kind = "tool", skip_output)]
    fn into_count(self) -> u32 {
        self.count
    }

    #[traced_run(kind = "chain")]
    async fn get_later(&self, run: &RunManager) -> u32 {
        self.get(run)
    }

    #[traced_run(kind = "chain")]
    async fn bump_later(&mut self, by: u32) -> u32 {
        self.count += by;
        self.count
    }

    #[traced_run(kind = "chain", callbacks = self.callbacks.clone())]
    async fn finish(self) -> u32 {
        self.count
    }
}

fn main() {
    let recorder = Arc::new(RecordingHandler::new());
    let callbacks = CallbackManager::new().with_handler(recorder.clone());
    let mut counter = Counter::new(1, &callbacks);
    assert_eq!(counter.bump(2, &callbacks), 3);
    assert_eq!(counter.get(&callbacks), 3);
    assert_eq!(futures::executor::block_on(counter.get_later(&callbacks)), 3);
    assert_eq!(futures::executor::block_on(counter.bump_later(1, &callbacks)), 4);
    let names: Vec<String> = recorder.runs().into_iter().map(|run| run.name.into_owned()).collect();
    assert_eq!(names, ["new", "Counter::bump", "Counter::get", "Counter::get_later", "Counter::get", "Counter::bump_later"]);
    let other = Counter::new(5, CallbackManager::none());
    assert_eq!(futures::executor::block_on(other.finish(&callbacks)), 5);
    assert_eq!(counter.into_count(&callbacks), 4);
}
