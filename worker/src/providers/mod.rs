//! LLM providers: the answer to a prompt, or a typed error the caller can
//! branch on (retry later, give up, mark the provider unhealthy).
//!
//! A concrete `enum` rather than a trait object: the set of provider kinds is
//! closed and known (`sim` here; the HTTP kinds join it), and a `match`
//! shows every one of them where it matters.

pub mod sim;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use igentai_protocol::ProviderHealth;

use crate::prompt::Prompt;
use crate::rng::Rng;

pub use sim::{Sim, SimConfig};

/// A model's answer with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub finish_reason: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Transport(String),
    #[error("unparseable answer: {0}")]
    Unparseable(String),
}

impl LlmError {
    /// How long to wait before calling this provider again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

pub enum Provider {
    Sim(Sim),
}

impl Provider {
    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        match self {
            Self::Sim(sim) => sim.complete(prompt).await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sim(_) => "sim",
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Self::Sim(sim) => sim.model(),
        }
    }
}

/// Consecutive failures after which a provider rests.
const FAILURES_TO_REST: u32 = 5;
/// How long an unhealthy provider rests before it is tried again.
const REST: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Health {
    consecutive_failures: u32,
    resting_until: Option<Instant>,
}

/// A named provider with its health as seen by this worker.
pub struct Entry {
    pub name: String,
    pub provider: Provider,
    health: Mutex<Health>,
}

impl Entry {
    pub fn new(name: impl Into<String>, provider: Provider) -> Self {
        Self {
            name: name.into(),
            provider,
            health: Mutex::default(),
        }
    }

    pub fn healthy(&self, now: Instant) -> bool {
        let health = self.health.lock().expect("health lock");
        health.resting_until.is_none_or(|t| now >= t)
    }

    pub fn record_success(&self) {
        let mut health = self.health.lock().expect("health lock");
        *health = Health::default();
    }

    pub fn record_failure(&self, error: &LlmError, now: Instant) {
        let mut health = self.health.lock().expect("health lock");
        health.consecutive_failures += 1;
        if let Some(wait) = error.retry_after() {
            health.resting_until = Some(now + wait);
        } else if health.consecutive_failures >= FAILURES_TO_REST {
            health.resting_until = Some(now + REST);
        }
    }
}

/// The providers this worker may call.
pub struct Providers {
    entries: Vec<Entry>,
}

impl Providers {
    pub fn new(entries: Vec<Entry>) -> Self {
        Self { entries }
    }

    /// A healthy provider chosen at random in proportion to `weights`
    /// (uniform among healthy ones when no weight is known); `None` when
    /// every provider is resting.
    pub fn pick(&self, weights: &BTreeMap<String, f64>, rng: &mut Rng, now: Instant) -> Option<&Entry> {
        let healthy: Vec<(&Entry, f64)> = self
            .entries
            .iter()
            .filter(|e| e.healthy(now))
            .map(|e| {
                let w = if weights.is_empty() {
                    1.0
                } else {
                    weights.get(&e.name).copied().unwrap_or(0.0)
                };
                (e, if w.is_finite() { w.max(0.0) } else { 0.0 })
            })
            .collect();
        let total: f64 = healthy.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            // No usable weight among the healthy: fall back to uniform.
            return (!healthy.is_empty()).then(|| healthy[rng.below(healthy.len())].0);
        }
        let mut x = rng.unit() * total;
        for (entry, w) in &healthy {
            if x < *w {
                return Some(entry);
            }
            x -= w;
        }
        healthy.last().map(|(e, _)| *e)
    }

    pub fn health(&self, now: Instant) -> Vec<ProviderHealth> {
        self.entries
            .iter()
            .map(|e| ProviderHealth {
                name: e.name.clone(),
                kind: e.provider.kind().to_string(),
                model: e.provider.model().to_string(),
                healthy: e.healthy(now),
                ..Default::default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(names: &[&str]) -> Providers {
        Providers::new(
            names
                .iter()
                .map(|n| Entry::new(*n, Provider::Sim(Sim::new(SimConfig::default()))))
                .collect(),
        )
    }

    #[test]
    fn picks_follow_weights_and_skip_unhealthy() {
        let p = providers(&["a", "b", "c"]);
        let weights: BTreeMap<String, f64> =
            [("a".to_string(), 3.0), ("b".to_string(), 1.0), ("c".to_string(), 0.0)].into();
        let mut rng = Rng::new(3);
        let now = Instant::now();
        let mut counts = BTreeMap::new();
        for _ in 0..4000 {
            let name = &p.pick(&weights, &mut rng, now).unwrap().name;
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.get("c"), None);
        let share = counts["a"] as f64 / 4000.0;
        assert!((0.72..0.78).contains(&share), "{share}");

        // a rests after a rate limit: only b remains.
        let a = &p.entries[0];
        a.record_failure(&LlmError::RateLimited { retry_after: Some(Duration::from_secs(30)) }, now);
        for _ in 0..100 {
            assert_eq!(p.pick(&weights, &mut rng, now).unwrap().name, "b");
        }
        assert!(a.healthy(now + Duration::from_secs(31)));
    }

    #[test]
    fn rests_after_repeated_failures() {
        let p = providers(&["a"]);
        let now = Instant::now();
        let error = LlmError::Status { status: 500, message: "boom".into() };
        for _ in 0..FAILURES_TO_REST {
            assert!(p.entries[0].healthy(now));
            p.entries[0].record_failure(&error, now);
        }
        assert!(p.pick(&BTreeMap::new(), &mut Rng::new(1), now).is_none());
        assert!(p.entries[0].healthy(now + REST));
        p.entries[0].record_success();
        assert!(p.entries[0].healthy(now));
    }
}
