//! `Provider`: one provider a worker calls, of one of the closed set of
//! kinds (`openai`, `anthropic`, `sim`). A concrete `enum` rather than a
//! trait object: a `match` shows every kind where it matters.

use super::completion::Completion;
use super::error::LlmError;
use super::http::{Anthropic, OpenAi};
use super::settings::{Kind, Settings};
use super::sim::Sim;
use crate::prompt::Prompt;

pub enum Provider {
    Sim(Sim),
    OpenAi(OpenAi),
    Anthropic(Anthropic),
}

impl Provider {
    /// Builds a provider; `stream` (the worker id) seeds a sim's calls.
    pub fn build(settings: &Settings, stream: &str) -> anyhow::Result<Self> {
        Ok(match settings.kind {
            Kind::Sim => Self::Sim(
                Sim::new(settings.sim.clone()).with_stream(&format!("{stream}/{}", settings.name)),
            ),
            Kind::Openai => Self::OpenAi(OpenAi::new(settings)?),
            Kind::Anthropic => Self::Anthropic(Anthropic::new(settings)?),
        })
    }

    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        match self {
            Self::Sim(p) => p.complete(prompt).await,
            Self::OpenAi(p) => p.complete(prompt).await,
            Self::Anthropic(p) => p.complete(prompt).await,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Sim(_) => Kind::Sim,
            Self::OpenAi(_) => Kind::Openai,
            Self::Anthropic(_) => Kind::Anthropic,
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Self::Sim(p) => p.model(),
            Self::OpenAi(p) => p.model(),
            Self::Anthropic(p) => p.model(),
        }
    }

    /// How answers are asked for now: `json_schema`, `json_object`,
    /// `tool` or `text` (heartbeats report it).
    pub fn output(&self) -> &'static str {
        match self {
            Self::Sim(_) => "text",
            Self::OpenAi(p) => p.form().as_str(),
            Self::Anthropic(p) => p.form().as_str(),
        }
    }
}
