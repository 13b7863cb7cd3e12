//! `model = ..` and `provider = ..` take any `Display` expression, `self`'s fields included,
//! on every model kind; a `ModelOutput` return value records its usage.
use runtrace::event::{ModelOutput, Usage};
use runtrace::prelude::*;

struct Reply(String);

impl ModelOutput for Reply {
    fn usage(&self) -> Option<Usage> {
        Some(Usage::new(1, self.0.len() as u64))
    }
}

impl serde::Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

struct Client {
    model: String,
    provider: &'static str,
}

impl Client {
    #[traced_run(kind = "chat_model", model = self.model, provider = self.provider)]
    fn chat(&self, prompt: String) -> Reply {
        Reply(prompt)
    }

    #[traced_run(kind = "embedding", model = format!("{}-embed", self.model))]
    async fn embed(&self, text: String) -> Result<Vec<f32>, CallbackError> {
        Ok(vec![text.len() as f32])
    }
}

#[traced_run(kind = "llm", model = "gpt-4o-mini", provider = "openai")]
fn complete(prompt: String) -> Reply {
    Reply(prompt)
}

fn main() {
    let client = Client { model: "gpt-4o-mini".into(), provider: "openai" };
    let _ = client.chat("hi".into(), CallbackManager::none());
    let _ = client.embed("hi".into(), CallbackManager::none());
    let _ = complete("hi".into(), CallbackManager::none());
}
