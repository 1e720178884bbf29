//! LLM providers: the answer to a prompt, or a typed error the caller can
//! branch on (wait and retry, try another provider, mark this one
//! misconfigured), and the set of providers a worker picks from.
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
pub mod sim;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use igentai_protocol::ProviderHealth;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::prompt::Prompt;
use crate::rng::Rng;

pub use anthropic::Anthropic;
pub use config::{ApiKey, Kind, Settings};
pub use entry::{Entry, Lease, Unavailable};
pub use headers::RateLimits;
pub use openai::OpenAi;
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
}

/// Why no provider could be leased now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Nothing changes before this time (a backoff, a limit, a cooldown).
    Until(Instant),
    /// Every candidate is at its concurrency limit: wait for a call to end.
    Released,
}

/// The providers this worker may call.
pub struct Providers {
    entries: Vec<Arc<Entry>>,
    released: Arc<Notify>,
}

impl Providers {
    pub fn build(settings: &[Settings], stream: &str) -> anyhow::Result<Self> {
        let released = Arc::new(Notify::new());
        let now = Instant::now();
        let entries = settings
            .iter()
            .map(|s| {
                let provider = Provider::build(s, stream)?;
                Ok(Arc::new(Entry::new(s, provider, released.clone(), now)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Providers { entries, released })
    }

    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }

    /// Woken whenever a call ends and frees capacity.
    pub fn released(&self) -> &Notify {
        &self.released
    }

    /// Leases a provider for one call: drawn in proportion to `weights`
    /// (uniform when no healthy provider has a positive weight) among the
    /// healthy ones, and if the drawn one is at a limit, the next draw among
    /// the rest. `tokens` is the call's estimated size.
    pub fn lease(
        &self,
        weights: &BTreeMap<String, f64>,
        rng: &mut Rng,
        now: Instant,
        tokens: u64,
    ) -> Result<Lease, Wait> {
        let healthy: Vec<&Arc<Entry>> = self.entries.iter().filter(|e| e.healthy(now)).collect();
        let weight = |e: &Entry| {
            weights
                .get(&e.name)
                .copied()
                .filter(|w| w.is_finite() && *w > 0.0)
        };
        let mut candidates: Vec<(&Arc<Entry>, f64)> = healthy
            .iter()
            .filter_map(|e| Some((*e, weight(e)?)))
            .collect();
        if candidates.is_empty() {
            candidates = healthy.iter().map(|e| (*e, 1.0)).collect();
        }
        let mut earliest: Option<Instant> = None;
        let mut busy = false;
        while let Some(i) = choose(&candidates.iter().map(|c| c.1).collect::<Vec<_>>(), rng) {
            match candidates[i].0.try_lease(now, tokens) {
                Ok(lease) => return Ok(lease),
                Err(Unavailable::Until(t)) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                Err(Unavailable::Busy) => busy = true,
            }
            candidates.swap_remove(i);
        }
        if healthy.is_empty() {
            // Everything is resting: wake when the first breaker probes.
            earliest = self.entries.iter().filter_map(|e| e.reopens_at()).min();
        }
        match (earliest, busy) {
            (Some(t), false) => Err(Wait::Until(t)),
            (None, true) => Err(Wait::Released),
            // Busy and a known time: whichever comes first wakes the caller.
            (Some(t), true) => Err(Wait::Until(t)),
            (None, false) => Err(Wait::Until(now + Duration::from_secs(5))),
        }
    }

    pub fn health(&self, now: Instant) -> Vec<ProviderHealth> {
        self.entries.iter().map(|e| e.health(now)).collect()
    }
}

/// An index drawn in proportion to `weights` (all positive), or `None`
/// when there is none.
pub fn choose(weights: &[f64], rng: &mut Rng) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        return None;
    }
    let mut x = rng.unit() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return Some(i);
        }
        x -= w;
    }
    Some(weights.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(toml: &str) -> Providers {
        Providers::build(&config::parse(toml, |_| None).unwrap(), "w1").unwrap()
    }

    fn sims(names: &[(&str, f64)]) -> Providers {
        let toml: String = names
            .iter()
            .map(|(n, failure)| {
                format!("[[providers]]\nname='{n}'\nkind='sim'\n[providers.sim]\nlatency_ms=0\nfailure_rate={failure}\n")
            })
            .collect();
        providers(&toml)
    }

    fn prompt() -> Prompt {
        Prompt {
            system: "s".into(),
            user: "List 5 things".into(),
            topic: "things".into(),
            partition: None,
            avoid: vec![],
            count: 5,
        }
    }

    fn weights(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    fn picks(p: &Providers, weights: &BTreeMap<String, f64>, n: usize) -> BTreeMap<String, usize> {
        let mut rng = Rng::new(3);
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            if let Ok(lease) = p.lease(weights, &mut rng, Instant::now(), 10) {
                *counts.entry(lease.entry().name.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn choose_is_proportional() {
        let mut rng = Rng::new(1);
        let mut counts = [0usize; 3];
        for _ in 0..10_000 {
            counts[choose(&[1.0, 2.0, 7.0], &mut rng).unwrap()] += 1;
        }
        for (count, share) in counts.iter().zip([0.1, 0.2, 0.7]) {
            let got = *count as f64 / 10_000.0;
            assert!((got - share).abs() < 0.02, "{counts:?}");
        }
        assert_eq!(choose(&[], &mut rng), None);
    }

    #[tokio::test(start_paused = true)]
    async fn picks_follow_weights_and_never_unhealthy_providers() {
        let p = sims(&[("a", 1.0), ("b", 0.0), ("c", 0.0)]);
        let counts = picks(&p, &weights(&[("a", 3.0), ("b", 1.0), ("c", 0.0)]), 4000);
        assert_eq!(
            counts.get("c"),
            None,
            "weight 0 is never picked: {counts:?}"
        );
        let share = counts["a"] as f64 / 4000.0;
        assert!((0.72..0.78).contains(&share), "{counts:?}");
        // No usable weight (unknown names): uniform among the healthy.
        let counts = picks(&p, &weights(&[("x", 1.0)]), 3000);
        assert!(
            counts.values().all(|n| (900..1100).contains(n)),
            "{counts:?}"
        );

        // `a` fails until its breaker opens; from then on it is never picked.
        let a = p.entries()[0].clone();
        for _ in 0..Policy::default().failures {
            tokio::time::advance(Duration::from_secs(5)).await; // past a's backoff
            let lease = a.try_lease(Instant::now(), 10).unwrap();
            assert!(lease.call(&prompt()).await.is_err());
        }
        assert!(!a.healthy(Instant::now()));
        let counts = picks(&p, &weights(&[("a", 100.0), ("b", 1.0)]), 1000);
        assert_eq!(counts.get("a"), None, "{counts:?}");
        assert_eq!(counts["b"], 1000);
        let health = a.health(Instant::now());
        assert_eq!((health.healthy, health.breaker.as_str()), (false, "open"));
        assert_eq!((health.requests, health.failures["server_error"]), (5, 5));
    }

    use crate::breaker::Policy;

    #[tokio::test(start_paused = true)]
    async fn breaker_cycles_under_paused_time() {
        let p = sims(&[("down", 1.0)]);
        let down = p.entries()[0].clone();
        let policy = Policy::default();
        let call = |d: &Arc<Entry>| d.try_lease(Instant::now(), 10);
        for _ in 0..policy.failures {
            tokio::time::advance(Duration::from_secs(5)).await;
            call(&down).unwrap().call(&prompt()).await.unwrap_err();
        }
        let state = |d: &Arc<Entry>| d.health(Instant::now()).breaker;
        assert_eq!(state(&down), "open");
        let opened = Instant::now();
        assert!(matches!(call(&down), Err(Unavailable::Until(t)) if t == opened + policy.cooldown));
        assert!(matches!(
            p.lease(&BTreeMap::new(), &mut Rng::new(1), Instant::now(), 10),
            Err(Wait::Until(t)) if t == opened + policy.cooldown
        ));

        tokio::time::advance(policy.cooldown).await;
        assert_eq!(state(&down), "half_open");
        assert!(down.healthy(Instant::now()));
        let probe = call(&down).unwrap();
        assert!(probe.is_probe());
        assert!(
            matches!(call(&down), Err(Unavailable::Busy)),
            "one probe at a time"
        );
        // A probe abandoned at shutdown is given back.
        drop(probe);
        let probe = call(&down).unwrap();
        assert!(probe.is_probe());
        probe.call(&prompt()).await.unwrap_err();
        assert_eq!(state(&down), "open");
        tokio::time::advance(policy.cooldown).await;
        assert_eq!(state(&down), "open", "the cooldown doubled");
        tokio::time::advance(policy.cooldown).await;
        assert_eq!(state(&down), "half_open");
        let health = down.health(Instant::now());
        assert_eq!(health.failures["server_error"], policy.failures as u64 + 1);
        assert_eq!(
            health.requests,
            policy.failures as u64 + 1,
            "a lease given back is no request"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_abandoned_in_flight_is_counted() {
        let p = providers(
            "[[providers]]\nname='slow'\nkind='sim'\nmax_concurrency=1\n[providers.sim]\nlatency_ms=5000\n",
        );
        let slow = p.entries()[0].clone();
        let lease = slow.try_lease(Instant::now(), 10).unwrap();
        let prompt = prompt();
        tokio::select! {
            _ = lease.call(&prompt) => panic!("the call takes seconds"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        let health = slow.health(Instant::now());
        assert_eq!((health.requests, health.failures["abandoned"]), (1, 1));
        assert!(
            slow.try_lease(Instant::now(), 10).is_ok(),
            "its permit is back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_back_off_without_opening_the_breaker() {
        let p = providers(
            "[[providers]]\nname='busy'\nkind='sim'\nmax_concurrency=1\n[providers.sim]\nlatency_ms=0\nrate_limit_rate=1.0\n",
        );
        let busy = p.entries()[0].clone();
        for _ in 0..11 {
            let lease = busy.try_lease(Instant::now(), 10).unwrap();
            assert!(
                matches!(busy.try_lease(Instant::now(), 10), Err(Unavailable::Busy)),
                "max_concurrency"
            );
            let after = lease
                .call(&prompt())
                .await
                .unwrap_err()
                .retry_after()
                .unwrap();
            assert!(
                matches!(busy.try_lease(Instant::now(), 10), Err(Unavailable::Until(t)) if t >= Instant::now() + after)
            );
            tokio::time::advance(Duration::from_secs(3)).await;
        }
        let health = busy.health(Instant::now());
        assert_eq!((health.healthy, health.breaker.as_str()), (true, "closed"));
        assert_eq!(health.failures["rate_limited"], 11);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_are_respected() {
        let p = providers("[[providers]]\nname='slow'\nkind='sim'\nrequests_per_min=6\n");
        let start = Instant::now();
        // A burst of one (ten seconds' worth), then one every ten seconds.
        let mut granted = Vec::new();
        while granted.len() < 4 {
            match p.lease(&BTreeMap::new(), &mut Rng::new(1), Instant::now(), 10) {
                Ok(_) => granted.push(Instant::now() - start),
                Err(Wait::Until(t)) => tokio::time::advance(t - Instant::now()).await,
                Err(Wait::Released) => panic!("nothing is in flight"),
            }
        }
        let secs: Vec<u64> = granted.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 30]);
    }
}
