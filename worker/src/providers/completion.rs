//! `Completion`: a model's answer with what it cost, how it ended and the
//! quota the provider reported with it.

use super::http::headers::RateLimits;

/// A model's answer with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub model: String,
    /// Every input token, cached or not.
    pub tokens_in: u64,
    /// Of `tokens_in`, those read from the provider's prompt cache (billed
    /// at its cached price).
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// `stop`, `length` (cut at the output limit), `content_filter`, or the
    /// provider's own word.
    pub finish_reason: Option<String>,
    pub request_id: Option<String>,
    /// The provider's quota as reported with this answer.
    pub limits: RateLimits,
}
