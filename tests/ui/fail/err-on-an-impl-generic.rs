use runtrace::prelude::*;

struct Cache<X>(X);

impl<X: serde::Serialize + Clone + Sync> Cache<X> {
    #[traced_run(kind = "tool", err(Debug))]
    fn get(&self) -> X {
        self.0.clone()
    }
}

fn main() {}
