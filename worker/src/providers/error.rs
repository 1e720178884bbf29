//! `LlmError`: why a call to a provider failed, typed so the caller can
//! branch on it (wait and retry, try another provider, mark this one
//! misconfigured), and named by `kind()` in heartbeats and metrics.

use std::time::Duration;

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
