//! What a run is: a chain, a model call, a tool, ...

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a run, as LangChain and LangSmith name them (`run_type`).
///
/// ```
/// use runtrace_runtime::RunKind;
///
/// let kind: RunKind = "chat_model".parse()?;
/// assert_eq!(kind, RunKind::ChatModel);
/// assert_eq!(kind.to_string(), "chat_model");
/// # Ok::<(), runtrace_runtime::event::UnknownRunKind>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A sequence of steps, the default.
    Chain,
    /// A completion model call.
    Llm,
    /// A chat model call.
    ChatModel,
    /// A tool an agent can call.
    Tool,
    /// A document retriever.
    Retriever,
    /// An agent loop.
    Agent,
    /// An embedding model call.
    Embedding,
    /// An output parser.
    Parser,
    /// A prompt template.
    Prompt,
    /// Anything else.
    Custom,
}

impl RunKind {
    /// Every kind, in declaration order.
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    ///
    /// for kind in RunKind::ALL {
    ///     assert_eq!(kind.as_str().parse::<RunKind>()?, kind, "every kind parses from its name");
    /// }
    /// # Ok::<(), runtrace_runtime::event::UnknownRunKind>(())
    /// ```
    pub const ALL: [RunKind; 10] = [
        RunKind::Chain,
        RunKind::Llm,
        RunKind::ChatModel,
        RunKind::Tool,
        RunKind::Retriever,
        RunKind::Agent,
        RunKind::Embedding,
        RunKind::Parser,
        RunKind::Prompt,
        RunKind::Custom,
    ];

    /// The snake_case name, as written in `#[traced_run(kind = "...")]`.
    ///
    /// ```
    /// assert_eq!(runtrace_runtime::RunKind::Tool.as_str(), "tool");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RunKind::Chain => "chain",
            RunKind::Llm => "llm",
            RunKind::ChatModel => "chat_model",
            RunKind::Tool => "tool",
            RunKind::Retriever => "retriever",
            RunKind::Agent => "agent",
            RunKind::Embedding => "embedding",
            RunKind::Parser => "parser",
            RunKind::Prompt => "prompt",
            RunKind::Custom => "custom",
        }
    }
}

impl RunKind {
    /// The LangSmith `run_type` of this kind. LangSmith knows `llm`, `chain`, `tool`,
    /// `retriever`, `embedding`, `prompt` and `parser`; as LangChain does, a chat model is
    /// reported as `llm`, and an agent or a custom run as `chain`.
    ///
    /// ```
    /// use runtrace_runtime::RunKind;
    /// assert_eq!(RunKind::ChatModel.langsmith_run_type(), "llm");
    /// assert_eq!(RunKind::Agent.langsmith_run_type(), "chain");
    /// assert_eq!(RunKind::Retriever.langsmith_run_type(), "retriever");
    /// ```
    #[must_use]
    pub const fn langsmith_run_type(self) -> &'static str {
        match self {
            RunKind::ChatModel => "llm",
            RunKind::Agent | RunKind::Custom => "chain",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`RunKind`] from a string that names none.
///
/// ```
/// let err = "model".parse::<runtrace_runtime::RunKind>().unwrap_err();
/// assert!(err.to_string().contains("chat_model"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown run kind `{0}`: expected one of chain, llm, chat_model, tool, retriever, agent, embedding, parser, prompt, custom"
)]
pub struct UnknownRunKind(String);

impl UnknownRunKind {
    /// The name that is not a run kind.
    ///
    /// ```
    /// let err = "chatmodel".parse::<runtrace_runtime::RunKind>().unwrap_err();
    /// assert_eq!(err.name(), "chatmodel");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl FromStr for RunKind {
    type Err = UnknownRunKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunKind::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| UnknownRunKind(s.to_owned()))
    }
}
