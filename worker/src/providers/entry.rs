//! One provider as this worker sees it: its circuit breaker, its backoff,
//! its client-side limits, its concurrency permits and its counters, and
//! the [`Lease`] a slot holds while it calls it.
//!
//! Every call goes through a lease, so every outcome (answer, failure, or a
//! call abandoned at shutdown) is recorded exactly once, and a half-open
//! probe cannot leak.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use igentai_protocol::ProviderHealth;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::completion::Completion;
use super::error::LlmError;
use super::guard::{Admission, Failed, Gate, Limiter, MISCONFIGURED_COOLDOWN};
use super::provider::Provider;
use super::settings::Settings;
use crate::prompt::Prompt;
use crate::rng::{Rng, entropy};

/// Why a provider cannot be leased right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Not before this time.
    Until(Instant),
    /// At its concurrency limit, or its probe is out.
    Busy,
}

struct State {
    gate: Gate,
    limiter: Limiter,
    requests: u64,
    failures: BTreeMap<&'static str, u64>,
    rng: Rng,
}

pub struct Entry {
    pub name: String,
    pub provider: Provider,
    /// In batch mode: called only by the worker's batch runner, never
    /// leased for a live call.
    pub batch: bool,
    /// Why the provider can never be called (its key is not set).
    unusable: Option<String>,
    permits: Arc<Semaphore>,
    released: Arc<Notify>,
    state: Mutex<State>,
}

impl Entry {
    pub fn new(
        settings: &Settings,
        provider: Provider,
        released: Arc<Notify>,
        now: Instant,
    ) -> Self {
        if let Some(why) = &settings.unusable {
            tracing::error!(provider = %settings.name, reason = %why, "provider disabled");
        }
        Entry {
            name: settings.name.clone(),
            provider,
            batch: settings.batch.is_some(),
            unusable: settings.unusable.clone(),
            permits: Arc::new(Semaphore::new(settings.max_concurrency.max(1) as usize)),
            released,
            state: Mutex::new(State {
                gate: Gate::default(),
                limiter: Limiter::new(settings.requests_per_min, settings.tokens_per_min, now),
                requests: 0,
                failures: BTreeMap::new(),
                rng: Rng::new(entropy() ^ xxhash_rust::xxh3::xxh3_64(settings.name.as_bytes())),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data updated in one step; a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Usable and its breaker not open.
    pub fn healthy(&self, now: Instant) -> bool {
        self.unusable.is_none() && self.state().gate.healthy(now)
    }

    pub fn reopens_at(&self) -> Option<Instant> {
        if self.unusable.is_some() {
            return None;
        }
        self.state().gate.reopens_at()
    }

    /// A lease for one call of about `tokens` tokens, if the breaker, the
    /// backoff, the limits and the concurrency all allow it now.
    pub fn try_lease(self: &Arc<Self>, now: Instant, tokens: u64) -> Result<Lease, Unavailable> {
        if self.unusable.is_some() {
            return Err(Unavailable::Until(now + MISCONFIGURED_COOLDOWN));
        }
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Unavailable::Busy)?;
        let mut state = self.state();
        let admission = match state.gate.admit(now) {
            Ok(admission) => admission,
            Err(Some(t)) => return Err(Unavailable::Until(t)),
            Err(None) => return Err(Unavailable::Busy),
        };
        if let Err(t) = state.limiter.try_take(now, tokens) {
            state.gate.on_unused(admission);
            return Err(Unavailable::Until(t));
        }
        Ok(Lease {
            entry: self.clone(),
            permit: Some(permit),
            admission,
            tokens,
            started: false,
            settled: false,
        })
    }

    fn record(
        &self,
        result: &Result<Completion, LlmError>,
        admission: Admission,
        estimated: u64,
        now: Instant,
    ) {
        let mut state = self.state();
        let state = &mut *state;
        state.requests += 1;
        let error = match result {
            Ok(c) => {
                state.gate.on_success();
                state.limiter.settle(estimated, c.tokens_in + c.tokens_out);
                state.limiter.observe(now, &c.limits);
                return;
            }
            Err(e) => e,
        };
        *state.failures.entry(error.kind()).or_default() += 1;
        state.limiter.settle(estimated, 0);
        let was = state.gate.state_name(now);
        let unit = state.rng.unit();
        let wait = match state.gate.on_failure(error, admission, now, unit) {
            Failed::Misconfigured => {
                tracing::error!(provider = %self.name, %error,
                    cooldown_s = MISCONFIGURED_COOLDOWN.as_secs(), "provider misconfigured; not calling it until the cooldown ends");
                return;
            }
            Failed::Backoff(wait) => wait,
        };
        let is = state.gate.state_name(now);
        if is == "open" && was != "open" {
            tracing::warn!(provider = %self.name, %error, "circuit breaker open");
        } else {
            tracing::debug!(provider = %self.name, %error, wait_ms = wait.as_millis() as u64, "LLM call failed");
        }
    }

    fn record_abandoned(&self, admission: Admission, started: bool) {
        let mut state = self.state();
        if started {
            state.requests += 1;
            *state.failures.entry("abandoned").or_default() += 1;
        }
        state.gate.on_unused(admission);
    }

    pub fn health(&self, now: Instant) -> ProviderHealth {
        let healthy = self.healthy(now);
        let mut state = self.state();
        ProviderHealth {
            name: self.name.clone(),
            kind: self.provider.kind().as_str().to_string(),
            model: self.provider.model().to_string(),
            healthy,
            breaker: if self.unusable.is_some() {
                "open"
            } else {
                state.gate.state_name(now)
            }
            .to_string(),
            requests: state.requests,
            failures: state
                .failures
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            output: self.provider.output().to_string(),
        }
    }
}

/// The right to make one call to one provider. Dropped without
/// [`Lease::call`] finishing, it gives a probe back, and a call it had
/// started (abandoned at shutdown) is counted as `abandoned`.
pub struct Lease {
    entry: Arc<Entry>,
    permit: Option<OwnedSemaphorePermit>,
    admission: Admission,
    tokens: u64,
    started: bool,
    settled: bool,
}

impl Lease {
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn is_probe(&self) -> bool {
        self.admission == Admission::Probe
    }

    pub async fn call(mut self, prompt: &Prompt) -> Result<Completion, LlmError> {
        self.started = true;
        let result = self.entry.provider.complete(prompt).await;
        self.entry
            .record(&result, self.admission, self.tokens, Instant::now());
        self.settled = true;
        result
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.settled {
            self.entry.record_abandoned(self.admission, self.started);
        }
        // Free the permit before waking anyone who waits for it.
        drop(self.permit.take());
        self.entry.released.notify_waiters();
    }
}
