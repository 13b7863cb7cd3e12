use runtrace::prelude::*;

struct Agent {
    handlers: Vec<String>,
}

impl Agent {
    #[traced_run(kind = "agent", callbacks = self.handlers)]
    fn step(&self, input: String) -> String {
        input
    }
}

fn main() {}
