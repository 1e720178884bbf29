//! Provider weights: a bandit that steers the fleet towards the providers
//! that currently yield the most new items per dollar.
//!
//! Pure; the scoring and allocation rules are on [`Bandit`].

use std::collections::BTreeMap;

use super::validity::Validity;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Share of the spend every healthy provider keeps, to go on measuring it.
    pub floor: f64,
    /// How sharply the target favours the best score (lower is sharper).
    pub temperature: f64,
    /// Half-life of the evidence.
    pub half_life_s: f64,
    /// Half-life of a provider's evidence in its own answers: a provider
    /// answering often is judged on its latest answers, so a cheap one
    /// running out of items loses weight as fast as its evidence allows.
    pub half_life_answers: f64,
    /// Fraction of the way to the target moved per update.
    pub step: f64,
    /// Answers a provider needs before its score counts; until then it gets
    /// an equal share of the calls. Once counted it stays counted: thin
    /// recent evidence still gives its ratio.
    pub min_batches: f64,
}

impl Default for Config {
    fn default() -> Self {
        // Measured with `scripts/bench-yield.sh` (regret against the best
        // fixed allocation, time to leave a degrading provider).
        Self {
            floor: 0.01,
            temperature: 0.15,
            half_life_s: 20.0,
            half_life_answers: 400.0,
            step: 0.8,
            min_batches: 3.0,
        }
    }
}

/// Decayed sums of one provider's recent answers.
#[derive(Debug, Clone, Default, PartialEq)]
struct Evidence {
    batches: f64,
    /// Calls that failed (errors, timeouts, rate limits).
    failed: f64,
    new: f64,
    cost_usd: f64,
    seconds: f64,
    updated_ms: u64,
    /// Reached `min_batches` once.
    measured: bool,
}

impl Evidence {
    fn decay_to(&mut self, now_ms: u64, half_life_s: f64) {
        let dt = now_ms.saturating_sub(self.updated_ms) as f64 / 1000.0;
        if dt > 0.0 {
            self.scale(0.5f64.powf(dt / half_life_s));
        }
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    fn scale(&mut self, f: f64) {
        self.batches *= f;
        self.failed *= f;
        self.new *= f;
        self.cost_usd *= f;
        self.seconds *= f;
    }
}

/// Pure. Each answer adds its new items, cost and latency to its provider's
/// exponentially decayed sums (half-life [`Config::half_life_s`], and
/// [`Config::half_life_answers`] of its own answers), so old evidence fades
/// and a provider that degrades loses weight within seconds. The count
/// half-life matters for the busiest provider: a cheap model answering
/// dozens of times a second runs out of the items it knows while a
/// 20-second window still averages in its better past, so its score would
/// lag behind its marginal yield.
/// A provider's score is new items per dollar, or per second of LLM time
/// when some provider has no price (once items are judged, only its valid
/// share of them: [`Bandit::observe_verdict`]), times the square root of the share of
/// its calls that answer: failed calls, reported by worker heartbeats,
/// cost no money but hold a worker's call slot and time (the square root,
/// measured with the yield benchmark, weighs that against the dollars). The target allocation is a share of
/// the *spend* (dollars, or LLM-seconds): it favours the best score sharply
/// (a softmax over scores relative to the best) with an exploration floor,
/// so every healthy provider keeps being measured without an expensive one
/// eating the budget; it becomes weights per call by dividing each share by
/// the provider's cost per answer. A provider that has not answered yet
/// while others have gets only the floor: its price is unknown, and the
/// calls it already has in flight will measure it. The target follows the decayed evidence,
/// and the published weights move most of the way to it each update (at
/// most once a tick), so allocations change smoothly yet leave a provider
/// that stopped paying within seconds.
/// Providers unhealthy across the whole fleet get zero. A manual override
/// replaces all of this until cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct Bandit {
    config: Config,
    evidence: BTreeMap<String, Evidence>,
    /// Verdicts on each provider's items; empty while the run judges none.
    validity: BTreeMap<String, Validity>,
    weights: BTreeMap<String, f64>,
    manual: Option<BTreeMap<String, f64>>,
    version: u64,
}

impl Bandit {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            evidence: BTreeMap::new(),
            validity: BTreeMap::new(),
            weights: BTreeMap::new(),
            manual: None,
            version: 0,
        }
    }

    /// Records one answer of `provider`.
    pub fn observe(
        &mut self,
        provider: &str,
        new: u64,
        cost_usd: f64,
        latency_ms: u64,
        now_ms: u64,
    ) {
        let half_life = self.config.half_life_s;
        let e = self.evidence.entry(provider.to_string()).or_default();
        e.decay_to(now_ms, half_life);
        if self.config.half_life_answers > 0.0 {
            e.scale(0.5f64.powf(1.0 / self.config.half_life_answers));
        }
        e.batches += 1.0;
        e.new += new as f64;
        e.cost_usd += cost_usd.max(0.0);
        e.seconds += latency_ms as f64 / 1000.0;
        e.measured |= e.batches >= self.config.min_batches;
    }

    /// Records `n` failed calls to `provider`. Failures cost no money but
    /// hold a worker's call slot and time: a provider's score is scaled by
    /// the square root of the share of its calls that answer, so one
    /// failing half its calls loses weight to an equally good one that
    /// does not.
    pub fn observe_failures(&mut self, provider: &str, n: u64, now_ms: u64) {
        let half_life = self.config.half_life_s;
        let e = self.evidence.entry(provider.to_string()).or_default();
        e.decay_to(now_ms, half_life);
        e.failed += n as f64;
    }

    /// Records a judge's verdict on one of `provider`'s new items. Once
    /// any item is judged, a provider's score counts only its valid share
    /// of its new items: an inventing provider is paid for what is real.
    pub fn observe_verdict(&mut self, provider: &str, valid: bool) {
        self.validity
            .entry(provider.to_string())
            .or_default()
            .observe(valid);
    }

    /// Sets (or with `None`, clears) a manual override.
    pub fn set_manual(&mut self, weights: Option<BTreeMap<String, f64>>) {
        self.manual = weights;
        self.version += 1;
    }

    pub fn manual(&self) -> Option<&BTreeMap<String, f64>> {
        self.manual.as_ref()
    }

    /// The weights in force and their version.
    pub fn weights(&self) -> (&BTreeMap<String, f64>, u64) {
        match &self.manual {
            Some(m) => (m, self.version),
            None => (&self.weights, self.version),
        }
    }

    /// Recomputes the weights over `healthy` providers (those some worker
    /// reports healthy); returns true when they changed.
    pub fn update(&mut self, healthy: &[String], now_ms: u64) -> bool {
        let half_life = self.config.half_life_s;
        for e in self.evidence.values_mut() {
            e.decay_to(now_ms, half_life);
        }
        let target = self.target(healthy);
        let mut next = BTreeMap::new();
        for (name, t) in &target {
            let old = self.weights.get(name).copied().unwrap_or(*t);
            let w = if *t == 0.0 {
                0.0
            } else {
                old + self.config.step * (t - old)
            };
            next.insert(name.clone(), w);
        }
        normalize(&mut next);
        // Small weights matter for expensive providers: a change counts when
        // it is large in absolute or in relative terms.
        let changed = next.len() != self.weights.len()
            || next.iter().any(|(k, v)| {
                let old = self.weights.get(k).copied().unwrap_or(-1.0);
                let diff = (old - v).abs();
                diff > 1e-3 || diff > 0.05 * old.abs().max(*v)
            });
        if changed {
            self.weights = next;
            if self.manual.is_none() {
                self.version += 1;
            }
        }
        changed
    }

    /// What is known of each healthy provider: its score (new items per
    /// dollar, or per LLM-second when some provider has no price), once
    /// measured, and its spend per answer, once it answered.
    fn standings(&self, healthy: &[String]) -> BTreeMap<String, Standing> {
        let answered = |name: &String| self.evidence.get(name).filter(|e| e.batches > 0.0);
        let priced = healthy
            .iter()
            .filter_map(answered)
            .all(|e| e.cost_usd > 0.0);
        healthy
            .iter()
            .map(|name| {
                let e = answered(name);
                let spent = e.map(|e| if priced { e.cost_usd } else { e.seconds });
                let standing = Standing {
                    score: e.filter(|e| e.measured).zip(spent).map(|(e, spent)| {
                        let answering = e.batches / (e.batches + e.failed);
                        let valid = match self.validity.is_empty() {
                            true => 1.0,
                            false => self.validity.get(name).copied().unwrap_or_default().share(),
                        };
                        if spent > 0.0 {
                            answering.sqrt() * e.new * valid / spent
                        } else {
                            0.0
                        }
                    }),
                    per_call: e
                        .zip(spent)
                        .map(|(e, spent)| spent / e.batches)
                        .filter(|c| *c > 0.0),
                };
                (name.clone(), standing)
            })
            .collect()
    }

    fn target(&self, healthy: &[String]) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> =
            self.weights.keys().map(|k| (k.clone(), 0.0)).collect();
        if healthy.is_empty() {
            return out;
        }
        let standings = self.standings(healthy);
        let n = healthy.len() as f64;
        // Shares of the spend: each unmeasured provider an equal one, to be
        // measured; the rest by a softmax of the scores relative to the
        // best, with the exploration floor.
        let scores: BTreeMap<&String, f64> = standings
            .iter()
            .filter_map(|(name, s)| s.score.map(|score| (name, score)))
            .collect();
        let by_score = scores.len() as f64 / n;
        let best = scores.values().copied().fold(0.0, f64::max);
        let mut soft: BTreeMap<String, f64> = scores
            .iter()
            .map(|(name, score)| {
                let x = if best > 0.0 {
                    (score / best - 1.0) / self.config.temperature
                } else {
                    0.0
                };
                ((*name).clone(), x.exp())
            })
            .collect();
        normalize(&mut soft);
        let floor = self.config.floor.min(1.0 / scores.len().max(1) as f64);
        let k = soft.len() as f64;
        // A provider that has not answered yet while others have gets only
        // the floor: its price is unknown, and the calls it already has in
        // flight will measure it.
        let spend = |name: &String| match (soft.get(name), &standings[name].per_call) {
            (Some(s), _) => by_score * (floor + (1.0 - floor * k) * s),
            (None, Some(_)) => 1.0 / n,
            (None, None) => self.config.floor,
        };
        // Spend shares become shares of the calls. Before any provider
        // answered, calls are equal; a provider that has not answered yet is
        // taken to cost as much as the dearest one that has.
        let dearest = standings
            .values()
            .filter_map(|s| s.per_call)
            .fold(0.0, f64::max);
        for (name, standing) in &standings {
            let share = if dearest > 0.0 {
                spend(name) / standing.per_call.unwrap_or(dearest)
            } else {
                1.0
            };
            out.insert(name.clone(), share);
        }
        normalize(&mut out);
        out
    }
}

/// What the bandit knows of one provider.
struct Standing {
    score: Option<f64>,
    per_call: Option<f64>,
}

fn normalize(weights: &mut BTreeMap<String, f64>) {
    let total: f64 = weights.values().sum();
    if total > 0.0 {
        weights.values_mut().for_each(|w| *w /= total);
    }
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
