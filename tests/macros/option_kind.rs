//! `kind = "..."`: the run's kind, on every event of the run; `chain` when not given. The kind
//! is also what handlers opt out of.

use crate::common::{recording, recording_ignoring};
use runtrace::event::EventType;
use runtrace::handlers::Ignore;
use runtrace::prelude::*;

type Traced = fn(&CallbackManager) -> Option<RunKind>;

/// One traced fn per kind string, each returning the kind its run has, and `EVERY_KIND`: each
/// of them with the kind its string must give. The kind is written in the attribute, so each
/// string needs a fn of its own; the table keeps the ten of them in one place.
macro_rules! kinds {
    ($($traced:ident: $kind:literal => $expected:expr,)*) => {
        $(
            #[traced_run(kind = $kind)]
            fn $traced(run: &RunManager) -> Option<RunKind> {
                run.kind()
            }
        )*

        // Traced functions are generic over their parent: a closure fixes it to a reference.
        const EVERY_KIND: [(Traced, RunKind); 10] = [$((|callbacks: &CallbackManager| $traced(callbacks), $expected)),*];
    };
}

kinds! {
    a_chain: "chain" => RunKind::Chain,
    an_llm: "llm" => RunKind::Llm,
    a_chat_model: "chat_model" => RunKind::ChatModel,
    a_tool: "tool" => RunKind::Tool,
    a_retriever: "retriever" => RunKind::Retriever,
    an_agent: "agent" => RunKind::Agent,
    an_embedding: "embedding" => RunKind::Embedding,
    a_parser: "parser" => RunKind::Parser,
    a_prompt: "prompt" => RunKind::Prompt,
    a_custom: "custom" => RunKind::Custom,
}

#[traced_run]
fn no_kind(run: &RunManager) -> Option<RunKind> {
    run.kind()
}

#[test]
fn each_kind_string_gives_its_run_kind_on_every_event_of_the_run() {
    for (traced, kind) in EVERY_KIND {
        let (recorder, callbacks) = recording();

        assert_eq!(traced(&callbacks), Some(kind));

        assert_eq!(recorder.event_types(), [EventType::Start, EventType::End]);
        assert!(recorder.events().iter().all(|event| event.run.kind == kind), "{kind}");
    }
}

#[test]
fn kind_defaults_to_chain() {
    let (recorder, callbacks) = recording();

    assert_eq!(no_kind(&callbacks), Some(RunKind::Chain));

    assert_eq!(recorder.runs()[0].kind, RunKind::Chain);
}

#[test]
fn no_handlers_means_no_kind_to_see() {
    assert_eq!(a_tool(CallbackManager::none()), None);
}

struct Embedder;

impl Embedder {
    #[traced_run(kind = "embedding")]
    async fn embed(&self, text: String) -> Vec<f32> {
        text.bytes().map(f32::from).collect()
    }
}

#[tokio::test]
async fn kind_applies_to_async_methods() {
    let (recorder, callbacks) = recording();

    assert_eq!(Embedder.embed("ab".into(), &callbacks).await, [97.0, 98.0]);

    let run = &recorder.runs()[0];
    assert_eq!((&*run.name, run.kind), ("Embedder::embed", RunKind::Embedding));
}

#[traced_run(kind = "agent")]
fn agent_loop(run: &RunManager) -> usize {
    a_tool(run);
    an_llm(run);
    a_chain(run);
    3
}

#[test]
fn a_handler_ignoring_a_kind_misses_those_runs_and_hears_the_others() {
    let (no_llm_or_tool, callbacks) = recording_ignoring(Ignore::LLM | Ignore::TOOL);

    agent_loop(&callbacks);

    let kinds: Vec<RunKind> = no_llm_or_tool.runs().iter().map(|run| run.kind).collect();
    assert_eq!(kinds, [RunKind::Agent, RunKind::Chain]);
    assert_eq!(no_llm_or_tool.len(), 4);
}
