use runtrace::prelude::*;

struct ModelId(u32);

struct Client {
    model: ModelId,
}

impl Client {
    #[traced_run(kind = "llm", model = self.model)]
    fn complete(&self, prompt: String) -> String {
        prompt
    }
}

fn main() {}
