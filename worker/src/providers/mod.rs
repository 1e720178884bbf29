//! LLM providers: the answer to a prompt, or a typed error the caller can
//! branch on (wait and retry, try another provider, mark this one
//! misconfigured). The set a worker picks from is in `pool.rs`.
//!
//! A concrete `enum` rather than a trait object: the set of provider kinds
//! is closed and known (`openai`, `anthropic`, `sim`), and a `match` shows
//! every one of them where it matters.

pub mod anthropic;
pub mod config;
pub mod entry;
pub mod headers;
pub mod http;
pub mod openai;
pub mod pool;
pub mod sim;
pub mod universe;

use std::time::Duration;

use crate::prompt::Prompt;

pub use anthropic::Anthropic;
pub use config::{ApiKey, Kind, Output, Settings};
pub use entry::{Entry, Lease, Unavailable};
pub use headers::RateLimits;
pub use openai::OpenAi;
pub use pool::{Providers, Wait, choose};
pub use sim::{Sim, SimConfig};

/// A model's answer with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// `stop`, `length` (cut at the output limit), `content_filter`, or the
    /// provider's own word.
    pub finish_reason: Option<String>,
    pub request_id: Option<String>,
    /// The provider's quota as reported with this answer.
    pub limits: RateLimits,
}

/// Why a call failed. [`LlmError::kind`] names it in heartbeats and metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited (retry after {retry_after:?}): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("overloaded (retry after {retry_after:?}): {message}")]
    Overloaded {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("server error, HTTP {status}: {message}")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// 400/401/403/404 and other 4xx: the key, the model or the request is
    /// wrong, and retrying will not fix it.
    #[error("refused, HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// Out of credit (OpenAI's 429 `insufficient_quota`).
    #[error("quota exhausted: {message}")]
    QuotaExhausted { message: String },
    #[error("timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Transport(String),
    #[error("unparseable answer: {0}")]
    Unparseable(String),
}

impl LlmError {
    /// The failure kind: `rate_limited`, `overloaded`, `server_error`,
    /// `client_error`, `quota_exhausted`, `timeout`, `transport`, `unparseable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded { .. } => "overloaded",
            Self::Server { .. } => "server_error",
            Self::Rejected { .. } => "client_error",
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::Unparseable(_) => "unparseable",
        }
    }

    /// How long the provider asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. }
            | Self::Overloaded { retry_after, .. }
            | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider cannot work as configured: not retried, breaker opened
    /// for a long cooldown.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(self, Self::Rejected { .. } | Self::QuotaExhausted { .. })
    }

    /// Evidence that the provider is unwell, counted by its breaker. A rate
    /// limit is not: the provider is fine, we are just too fast.
    pub fn is_unhealthy(&self) -> bool {
        matches!(
            self,
            Self::Overloaded { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Unparseable(_)
        )
    }
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    pub in_per_m: f64,
    pub out_per_m: f64,
}

impl Pricing {
    pub fn of(settings: &Settings) -> Self {
        Pricing {
            in_per_m: settings.price_in_per_m,
            out_per_m: settings.price_out_per_m,
        }
    }

    pub fn cost(&self, tokens_in: u64, tokens_out: u64) -> f64 {
        tokens_in as f64 * self.in_per_m / 1e6 + tokens_out as f64 * self.out_per_m / 1e6
    }
}

/// What the pure HTTP decoders need besides the response.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    /// The configured model, reported when the answer names none.
    pub model: &'a str,
    pub pricing: Pricing,
    /// Redacted from error messages.
    pub key: Option<&'a ApiKey>,
    /// Input tokens to report when the server gives no usage.
    pub estimated_in: u64,
}

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
            Self::Anthropic(p) => p.output(),
        }
    }
}

/// The JSON schema of a structured answer: `{"items": ["...", ...]}`,
/// strict (every property required, nothing else allowed), as OpenAI's
/// `json_schema` and Anthropic's tool `input_schema` take it.
pub fn items_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        "required": ["items"],
        "additionalProperties": false,
    })
}

/// Whether an error answer refuses the structured-output part of the
/// request rather than the request itself: a 400 or 422 (OpenAI, vLLM), or
/// a 500 (llama-cpp-python's validation error), whose body names the
/// feature. Other 400s (a context too long) are not refusals of it.
pub fn refuses_structure(status: u16, body: &[u8], words: &[&str]) -> bool {
    if !matches!(status, 400 | 422 | 500) {
        return false;
    }
    let body = String::from_utf8_lossy(body).to_lowercase();
    words.iter().any(|w| body.contains(w))
}
