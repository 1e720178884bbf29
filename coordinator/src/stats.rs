//! Statistics of the current run: totals, per provider, per worker, per
//! partition, and the new-items rate over a sliding window.
//!
//! Pure accounting: callers pass batches, outcomes and the time; nothing here
//! reads a clock or touches I/O, so every number is testable exactly.

use std::collections::{BTreeMap, HashMap, VecDeque};

use igentai_protocol::{CandidateBatch, PartitionStats, ProviderStats, Totals};
use serde::{Deserialize, Serialize};

/// Latencies kept per provider for the percentiles.
const LATENCY_SAMPLES: usize = 1024;
/// The window of `unique_per_min`.
const RATE_WINDOW_MS: u64 = 60_000;
/// Name of the partition of batches that had none.
pub const WHOLE_TOPIC: &str = "(whole topic)";

/// What ingesting one batch produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchOutcome {
    /// Usable candidates (after dropping invalid lines).
    pub candidates: u64,
    pub new: u64,
    pub invalid: u64,
}

/// Counters a worker earned through its batches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerCounts {
    pub batches: u64,
    pub candidates: u64,
    pub unique: u64,
}

/// The part of the statistics persisted in `state.json`, so a restarted
/// coordinator keeps counting the same run (and its budget) where it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub totals: Totals,
    pub providers: BTreeMap<String, ProviderStats>,
}

#[derive(Default)]
pub struct RunStats {
    totals: Totals,
    providers: BTreeMap<String, ProviderStats>,
    latencies: HashMap<String, VecDeque<u64>>,
    workers: HashMap<String, WorkerCounts>,
    partitions: BTreeMap<String, PartitionStats>,
    /// (second, new items in that second), oldest first.
    rate: VecDeque<(u64, u64)>,
    started_at_ms: u64,
}

impl RunStats {
    pub fn new(started_at_ms: u64, persisted: Persisted) -> Self {
        Self {
            totals: persisted.totals,
            providers: persisted.providers,
            started_at_ms,
            ..Self::default()
        }
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            totals: self.totals.clone(),
            providers: self.providers.clone(),
        }
    }

    pub fn record_batch(&mut self, batch: &CandidateBatch, outcome: BatchOutcome, now_ms: u64) {
        let t = &mut self.totals;
        t.batches += 1;
        t.candidates += outcome.candidates;
        t.duplicates += outcome.candidates - outcome.new;
        t.new_this_run += outcome.new;
        t.invalid_items += outcome.invalid;
        t.tokens_in += batch.tokens_in;
        t.tokens_out += batch.tokens_out;
        t.cost_usd += batch.cost_usd.max(0.0);

        let p = self.providers.entry(batch.provider.clone()).or_default();
        p.model = batch.model.clone();
        p.batches += 1;
        p.candidates += outcome.candidates;
        p.unique += outcome.new;
        p.tokens_in += batch.tokens_in;
        p.tokens_out += batch.tokens_out;
        p.cost_usd += batch.cost_usd.max(0.0);
        let samples = self.latencies.entry(batch.provider.clone()).or_default();
        if samples.len() == LATENCY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(batch.latency_ms);

        let w = self.workers.entry(batch.worker_id.clone()).or_default();
        w.batches += 1;
        w.candidates += outcome.candidates;
        w.unique += outcome.new;

        let name = batch.partition.as_deref().unwrap_or(WHOLE_TOPIC);
        let part = self
            .partitions
            .entry(name.to_string())
            .or_insert_with(|| PartitionStats {
                name: name.to_string(),
                state: "active".into(),
                candidates: 0,
                unique: 0,
            });
        part.candidates += outcome.candidates;
        part.unique += outcome.new;

        if outcome.new > 0 {
            let second = now_ms / 1000;
            match self.rate.back_mut() {
                Some((s, n)) if *s == second => *n += outcome.new,
                _ => self.rate.push_back((second, outcome.new)),
            }
        }
    }

    pub fn record_rejected(&mut self) {
        self.totals.rejected_batches += 1;
    }

    pub fn totals(&self, unique: u64, now_ms: u64) -> Totals {
        let mut t = self.totals.clone();
        t.unique = unique;
        t.uniqueness_ratio = ratio(t.new_this_run, t.candidates);
        let elapsed_ms = now_ms.saturating_sub(self.started_at_ms);
        t.elapsed_s = elapsed_ms as f64 / 1000.0;
        let since = now_ms.saturating_sub(RATE_WINDOW_MS) / 1000;
        let recent: u64 = self
            .rate
            .iter()
            .filter(|(s, _)| *s >= since)
            .map(|(_, n)| n)
            .sum();
        let window_ms = elapsed_ms.clamp(1000, RATE_WINDOW_MS);
        t.unique_per_min = recent as f64 * 60_000.0 / window_ms as f64;
        t
    }

    /// Drops rate buckets that fell out of the window.
    pub fn expire(&mut self, now_ms: u64) {
        let since = now_ms.saturating_sub(RATE_WINDOW_MS) / 1000;
        while self.rate.front().is_some_and(|(s, _)| *s < since) {
            self.rate.pop_front();
        }
    }

    pub fn providers(&self) -> BTreeMap<String, ProviderStats> {
        let mut out = self.providers.clone();
        for (name, p) in &mut out {
            p.uniqueness_ratio = ratio(p.unique, p.candidates);
            if let Some(samples) = self.latencies.get(name) {
                let mut sorted: Vec<u64> = samples.iter().copied().collect();
                sorted.sort_unstable();
                p.latency_p50_ms = percentile(&sorted, 0.50);
                p.latency_p95_ms = percentile(&sorted, 0.95);
            }
        }
        out
    }

    pub fn worker(&self, worker_id: &str) -> WorkerCounts {
        self.workers.get(worker_id).copied().unwrap_or_default()
    }

    pub fn partitions(&self) -> Vec<PartitionStats> {
        self.partitions.values().cloned().collect()
    }

    pub fn cost_usd(&self) -> f64 {
        self.totals.cost_usd
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(provider: &str, worker: &str, latency_ms: u64) -> CandidateBatch {
        CandidateBatch {
            v: 1,
            batch_id: "b".into(),
            run_id: "r".into(),
            topic: "t".into(),
            worker_id: worker.into(),
            provider: provider.into(),
            model: format!("{provider}-model"),
            partition: None,
            items: vec![],
            tokens_in: 100,
            tokens_out: 50,
            latency_ms,
            cost_usd: 0.01,
            finish_reason: None,
            request_id: None,
            created_at_ms: 0,
        }
    }

    fn outcome(candidates: u64, new: u64, invalid: u64) -> BatchOutcome {
        BatchOutcome { candidates, new, invalid }
    }

    #[test]
    fn known_stream_gives_known_numbers() {
        let mut stats = RunStats::new(0, Persisted::default());
        stats.record_batch(&batch("a", "w1", 100), outcome(10, 10, 0), 1_000);
        stats.record_batch(&batch("a", "w2", 300), outcome(10, 4, 1), 2_000);
        stats.record_batch(&batch("b", "w1", 200), outcome(20, 6, 0), 3_000);
        stats.record_rejected();

        let t = stats.totals(25, 30_000);
        assert_eq!((t.batches, t.candidates, t.duplicates, t.new_this_run), (3, 40, 20, 20));
        assert_eq!((t.invalid_items, t.rejected_batches, t.unique), (1, 1, 25));
        assert_eq!((t.tokens_in, t.tokens_out), (300, 150));
        assert!((t.cost_usd - 0.03).abs() < 1e-12);
        assert!((t.uniqueness_ratio - 0.5).abs() < 1e-12);
        // 20 new items within the first 30 s: 40 per minute.
        assert!((t.unique_per_min - 40.0).abs() < 1e-9, "{}", t.unique_per_min);
        // A minute later the window has moved past them.
        stats.expire(100_000);
        assert_eq!(stats.totals(25, 100_000).unique_per_min, 0.0);

        let p = stats.providers();
        assert_eq!((p["a"].batches, p["a"].candidates, p["a"].unique), (2, 20, 14));
        assert!((p["a"].uniqueness_ratio - 0.7).abs() < 1e-12);
        assert_eq!((p["a"].latency_p50_ms, p["a"].latency_p95_ms), (100, 300));
        assert_eq!(stats.worker("w1"), WorkerCounts { batches: 2, candidates: 30, unique: 16 });
        assert_eq!(stats.partitions()[0].name, WHOLE_TOPIC);
        assert_eq!(stats.partitions()[0].unique, 20);
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.95)), (50, 95));
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn persisted_totals_carry_over() {
        let mut stats = RunStats::new(0, Persisted::default());
        stats.record_batch(&batch("a", "w1", 100), outcome(10, 5, 0), 1_000);
        let restored = RunStats::new(0, stats.persisted());
        assert_eq!(restored.totals(5, 2_000).candidates, 10);
        assert!((restored.cost_usd() - 0.01).abs() < 1e-12);
    }
}
