//! The providers a worker may call, and the choice of one per call: drawn
//! by the coordinator's weights among the healthy ones, skipping to the
//! next draw when the drawn one is at a limit, or telling the caller how
//! long to wait when none can take a call now.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use igentai_protocol::ProviderHealth;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::entry::{Entry, Lease, Unavailable};
use super::provider::Provider;
use super::settings::Settings;
use crate::rng::Rng;

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

    /// The names of the providers live slots call (not the batch-mode ones).
    pub fn live_names(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| !e.batch)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// Woken whenever a call ends and frees capacity.
    pub fn released(&self) -> &Notify {
        &self.released
    }

    /// Leases a provider for one call: drawn in proportion to `weights`
    /// (uniform when no healthy provider has a positive weight) among the
    /// healthy ones, and if the drawn one is at a limit, the next draw among
    /// the rest. `tokens` is the call's estimated size. Batch-mode
    /// providers are never leased: their answers come through the batch
    /// runner.
    pub fn lease(
        &self,
        weights: &BTreeMap<String, f64>,
        rng: &mut Rng,
        now: Instant,
        tokens: u64,
    ) -> Result<Lease, Wait> {
        let live = || self.entries.iter().filter(|e| !e.batch);
        let healthy: Vec<&Arc<Entry>> = live().filter(|e| e.healthy(now)).collect();
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
            earliest = live().filter_map(|e| e.reopens_at()).min();
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
    use crate::prompt::Prompt;
    use crate::providers::settings;

    fn providers(toml: &str) -> Providers {
        Providers::build(&settings::parse(toml, |_| None).unwrap(), "w1").unwrap()
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
            task: Default::default(),
            system: "s".into(),
            user: "List 5 things".into(),
            topic: "things".into(),
            partition: None,
            avoid: vec![],
            count: 5,
            judged: vec![],
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
    async fn batch_mode_providers_are_never_leased_for_a_live_call() {
        let p = providers(
            "[[providers]]\nname='live'\nkind='sim'\n[providers.sim]\nlatency_ms=0\n\
             [[providers]]\nname='bulk'\nkind='openai'\nmodel='m'\nmode='batch'\n",
        );
        let counts = picks(&p, &weights(&[("live", 1.0), ("bulk", 100.0)]), 500);
        assert_eq!(counts.get("bulk"), None, "{counts:?}");
        assert_eq!(counts["live"], 500);
        let only_batch =
            providers("[[providers]]\nname='bulk'\nkind='openai'\nmodel='m'\nmode='batch'\n");
        assert!(
            only_batch
                .lease(&weights(&[]), &mut Rng::new(1), Instant::now(), 10)
                .is_err()
        );
        assert_eq!(only_batch.health(Instant::now()).len(), 1, "still reported");
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

    use crate::providers::guard::Policy;

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
