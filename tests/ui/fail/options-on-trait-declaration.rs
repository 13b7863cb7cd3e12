use runtrace::prelude::*;

pub trait Tool {
    #[traced_run(kind = "tool", skip(input))]
    fn call(&self, input: String, run: &RunManager) -> String;
}

struct Echo;

// No follow-on error here: the declaration keeps its traced signature.
impl Tool for Echo {
    #[traced_run(kind = "tool", name = "echo")]
    fn call(&self, input: String, run: &RunManager) -> String {
        let _ = run;
        input
    }
}

fn main() {
    let _ = Echo.call("hi".into(), CallbackManager::none());
}
