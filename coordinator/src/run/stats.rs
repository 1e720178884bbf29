//! Statistics of the current run: totals and yields per provider, model,
//! worker and partition, with new-items rates over sliding windows.
//!
//! Pure accounting: callers pass batches, outcomes and the time; nothing here
//! reads a clock or touches I/O, so every number is testable exactly. The
//! whole value is saved in `state.json` for readers; a restarted
//! coordinator rebuilds it from the topic's batch log (`batchlog.rs`), so
//! it keeps counting the same run (and its budget) where it was.

use std::collections::{BTreeMap, VecDeque};

use igentai_protocol::{
    Answer, CandidateBatch, PartitionStats, ProviderStats, Totals, Validity, Yield,
};

use crate::topic::store::VerdictRecord;
use serde::{Deserialize, Serialize};

/// Latencies kept per source for the percentiles.
const LATENCY_SAMPLES: usize = 512;
/// The longest rate window.
const WINDOW_S: u64 = 300;
/// Answers over which the recent yield is measured.
pub const RECENT_BATCHES: usize = 50;
/// Name of the partition of batches that had none.
pub const WHOLE_TOPIC: &str = "(whole topic)";

/// What ingesting one batch produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// Usable candidates (after dropping invalid lines).
    pub candidates: u64,
    pub new: u64,
    pub invalid: u64,
    /// Candidates merged into an earlier item as a variant spelling (not
    /// new, counted among the duplicates).
    pub near_duplicates: u64,
}

/// Counters of one source of candidates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acc {
    pub batches: u64,
    pub candidates: u64,
    pub unique: u64,
    pub invalid: u64,
    #[serde(default)]
    pub near_duplicates: u64,
    pub tokens_in: u64,
    #[serde(default)]
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Verdicts on its new items.
    #[serde(default)]
    pub judged: u64,
    #[serde(default)]
    pub valid: u64,
    #[serde(default)]
    pub judged_no: u64,
    #[serde(default)]
    pub judged_unsure: u64,
    #[serde(skip)]
    latencies: VecDeque<u64>,
    /// (second, new items in that second), oldest first.
    #[serde(skip)]
    rate: VecDeque<(u64, u64)>,
}

impl Acc {
    fn record(&mut self, batch: &CandidateBatch, outcome: BatchOutcome, now_ms: u64) {
        self.batches += 1;
        self.candidates += outcome.candidates;
        self.unique += outcome.new;
        self.invalid += outcome.invalid;
        self.near_duplicates += outcome.near_duplicates;
        self.tokens_in += batch.tokens_in;
        self.tokens_cached_in += batch.tokens_cached_in;
        self.tokens_out += batch.tokens_out;
        self.cost_usd += batch.cost_usd.max(0.0);
        if self.latencies.len() == LATENCY_SAMPLES {
            self.latencies.pop_front();
        }
        self.latencies.push_back(batch.latency_ms);
        if outcome.new > 0 {
            let second = now_ms / 1000;
            match self.rate.back_mut() {
                Some((s, n)) if *s == second => *n += outcome.new,
                _ => self.rate.push_back((second, outcome.new)),
            }
        }
    }

    fn record_verdict(&mut self, answer: Answer) {
        self.judged += 1;
        match answer {
            Answer::Yes => self.valid += 1,
            Answer::No => self.judged_no += 1,
            Answer::Unsure => self.judged_unsure += 1,
        }
    }

    /// valid / judged, 0 while none is judged.
    fn valid_share(&self) -> f64 {
        ratio(self.valid as f64, self.judged as f64)
    }

    fn expire(&mut self, now_ms: u64) {
        let since = (now_ms / 1000).saturating_sub(WINDOW_S);
        while self.rate.front().is_some_and(|(s, _)| *s < since) {
            self.rate.pop_front();
        }
    }

    /// New items per minute over the last `window_s` seconds (or since the
    /// run started, when that is shorter).
    fn per_min(&self, window_s: u64, elapsed_ms: u64, now_ms: u64) -> f64 {
        let since = (now_ms / 1000).saturating_sub(window_s);
        let recent: u64 = self
            .rate
            .iter()
            .filter(|(s, _)| *s > since)
            .map(|(_, n)| n)
            .sum();
        let span_ms = elapsed_ms.clamp(1000, window_s * 1000);
        recent as f64 * 60_000.0 / span_ms as f64
    }

    fn yields(&self, elapsed_ms: u64, now_ms: u64) -> Yield {
        let mut sorted: Vec<u64> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        let tokens = self.tokens_in + self.tokens_out;
        Yield {
            batches: self.batches,
            candidates: self.candidates,
            unique: self.unique,
            near_duplicates: self.near_duplicates,
            tokens_in: self.tokens_in,
            tokens_cached_in: self.tokens_cached_in,
            tokens_out: self.tokens_out,
            cost_usd: self.cost_usd,
            uniqueness_ratio: ratio(self.unique as f64, self.candidates as f64),
            unique_per_min: self.per_min(60, elapsed_ms, now_ms),
            unique_per_min_5m: self.per_min(WINDOW_S, elapsed_ms, now_ms),
            unique_per_1k_tokens: ratio(self.unique as f64 * 1000.0, tokens as f64),
            unique_per_usd: ratio(self.unique as f64, self.cost_usd),
            latency_p50_ms: percentile(&sorted, 0.50),
            latency_p95_ms: percentile(&sorted, 0.95),
            judged: self.judged,
            valid: self.valid,
            valid_share: self.valid_share(),
            valid_per_usd: ratio(self.unique as f64 * self.valid_share(), self.cost_usd),
        }
    }
}

/// What judge calls spent and answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeSpend {
    pub spend: Spend,
    pub jobs: u64,
    pub failed_jobs: u64,
    /// Judge provider → (calls answered, cost).
    pub by_provider: BTreeMap<String, (u64, f64)>,
}

impl JudgeSpend {
    /// One judge job of `provider`: answered (`ok`) or failed.
    fn add(&mut self, provider: &str, spend: Spend, ok: bool) {
        self.spend.tokens_in = self.spend.tokens_in.saturating_add(spend.tokens_in);
        self.spend.tokens_out = self.spend.tokens_out.saturating_add(spend.tokens_out);
        self.spend.cost_usd += spend.cost_usd.max(0.0);
        match ok {
            true => self.jobs += 1,
            false => self.failed_jobs += 1,
        }
        if !provider.is_empty() {
            let (calls, cost) = self.by_provider.entry(provider.to_string()).or_default();
            *calls += u64::from(ok);
            *cost += spend.cost_usd.max(0.0);
        }
    }

    fn add_all(&mut self, other: &JudgeSpend) {
        self.spend.tokens_in = self.spend.tokens_in.saturating_add(other.spend.tokens_in);
        self.spend.tokens_out = self.spend.tokens_out.saturating_add(other.spend.tokens_out);
        self.spend.cost_usd += other.spend.cost_usd;
        self.jobs += other.jobs;
        self.failed_jobs += other.failed_jobs;
        for (provider, (calls, cost)) in &other.by_provider {
            let (c, usd) = self.by_provider.entry(provider.clone()).or_default();
            *c += calls;
            *usd += cost;
        }
    }
}

/// Tokens and cost spent outside batches (partition and judge jobs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    started_at_ms: u64,
    total: Acc,
    rejected: BTreeMap<String, u64>,
    /// Batches delivered again after they were counted.
    #[serde(default)]
    repeated: u64,
    /// Provider name → (model, counters).
    providers: BTreeMap<String, (String, Acc)>,
    models: BTreeMap<String, Acc>,
    workers: BTreeMap<String, Acc>,
    partitions: BTreeMap<String, Acc>,
    /// What partition jobs spent: the run's too, though no batch carries it.
    #[serde(default)]
    jobs: Spend,
    /// What the judge jobs whose verdicts are recorded spent (each job's
    /// spend rides on its first verdict record: rebuilt from the records).
    #[serde(default)]
    judging: JudgeSpend,
    /// What judge jobs spent that recorded no verdict (failed, or answered
    /// only what was judged already): not in any record, carried.
    #[serde(default)]
    judging_unrecorded: JudgeSpend,
    /// (new items, tokens) of the last answers, newest last.
    #[serde(skip)]
    recent: VecDeque<(u64, u64)>,
}

impl RunStats {
    pub fn new(started_at_ms: u64) -> Self {
        Self {
            started_at_ms,
            ..Self::default()
        }
    }

    pub fn record_batch(&mut self, batch: &CandidateBatch, outcome: BatchOutcome, now_ms: u64) {
        self.total.record(batch, outcome, now_ms);
        if self.recent.len() == RECENT_BATCHES {
            self.recent.pop_front();
        }
        self.recent
            .push_back((outcome.new, batch.tokens_in + batch.tokens_out));
        let (model, acc) = self.providers.entry(batch.provider.clone()).or_default();
        model.clone_from(&batch.model);
        acc.record(batch, outcome, now_ms);
        for acc in [
            self.models.entry(batch.model.clone()).or_default(),
            self.workers.entry(batch.worker_id.clone()).or_default(),
            self.partitions
                .entry(
                    batch
                        .partition
                        .as_deref()
                        .unwrap_or(WHOLE_TOPIC)
                        .to_string(),
                )
                .or_default(),
        ] {
            acc.record(batch, outcome, now_ms);
        }
    }

    /// A partition job's tokens and cost (already bounded): the run's
    /// totals and its budget include them.
    pub fn record_job(&mut self, spend: Spend) {
        self.jobs.tokens_in = self.jobs.tokens_in.saturating_add(spend.tokens_in);
        self.jobs.tokens_out = self.jobs.tokens_out.saturating_add(spend.tokens_out);
        self.jobs.cost_usd += spend.cost_usd.max(0.0);
    }

    /// A judge job that recorded no verdict (failed, `ok` false, or
    /// answered only items judged already) and what it cost (already
    /// bounded): the run's totals and its budget include it.
    pub fn record_judge_job(&mut self, provider: &str, spend: Spend, ok: bool) {
        self.judging_unrecorded.add(provider, spend, ok);
    }

    /// Both kinds of judge spend together.
    fn judge_spend(&self) -> JudgeSpend {
        let mut all = self.judging.clone();
        let u = &self.judging_unrecorded;
        all.add_all(u);
        all
    }

    /// A verdict on one of the run's new items, counted for the item's
    /// provider, model and partition; the first of a job carries its spend.
    pub fn record_verdict(&mut self, record: &VerdictRecord) {
        if let Some(job) = &record.job {
            self.judging.add(&record.judge, job.spend(), true);
        }
        self.count_verdict(record);
    }

    fn count_verdict(&mut self, record: &VerdictRecord) {
        let answer = record.verdict;
        self.total.record_verdict(answer);
        if let Some((_, acc)) = self.providers.get_mut(&record.provider) {
            acc.record_verdict(answer);
        }
        if let Some(acc) = self.models.get_mut(&record.model) {
            acc.record_verdict(answer);
        }
        let partition = record.partition.as_deref().unwrap_or(WHOLE_TOPIC);
        if let Some(acc) = self.partitions.get_mut(partition) {
            acc.record_verdict(answer);
        }
    }

    /// What judges said of the run's new items: `rate` is the share sent
    /// to a judge, `waiting` those not judged yet.
    pub fn validity(&self, rate: f64, waiting: u64) -> Validity {
        let t = &self.total;
        let judging = self.judge_spend();
        let (low, high) = wilson(t.valid, t.judged);
        let valid_items = match t.judged {
            0 => 0.0,
            _ if rate >= 1.0 => t.valid as f64,
            _ => t.unique as f64 * t.valid_share(),
        };
        Validity {
            rate,
            judged: t.judged,
            valid: t.valid,
            invalid: t.judged_no,
            unsure: t.judged_unsure,
            valid_share: t.valid_share(),
            valid_share_low: low,
            valid_share_high: high,
            valid_items,
            valid_per_usd: ratio(valid_items, self.cost_usd()),
            waiting,
            jobs: judging.jobs,
            failed_jobs: judging.failed_jobs,
            tokens_in: judging.spend.tokens_in,
            tokens_out: judging.spend.tokens_out,
            cost_usd: judging.spend.cost_usd,
        }
    }

    pub fn record_rejected(&mut self, kind: &str) {
        *self.rejected.entry(kind.to_string()).or_default() += 1;
    }

    pub fn record_repeated(&mut self) {
        self.repeated += 1;
    }

    /// Takes the counts of batches that are not in the batch log (rejected
    /// and repeated ones) from `earlier`: the rest is rebuilt from the log.
    pub fn carry_uncounted(&mut self, earlier: &RunStats) {
        self.rejected.clone_from(&earlier.rejected);
        self.repeated = earlier.repeated;
        self.jobs = earlier.jobs;
        self.judging_unrecorded
            .clone_from(&earlier.judging_unrecorded);
    }

    /// Drops rate buckets that fell out of the longest window.
    pub fn expire(&mut self, now_ms: u64) {
        self.total.expire(now_ms);
        self.providers
            .values_mut()
            .for_each(|(_, a)| a.expire(now_ms));
        for map in [&mut self.models, &mut self.workers, &mut self.partitions] {
            map.values_mut().for_each(|a| a.expire(now_ms));
        }
    }

    fn elapsed(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.started_at_ms)
    }

    pub fn totals(&self, unique: u64, now_ms: u64) -> Totals {
        let t = &self.total;
        let y = t.yields(self.elapsed(now_ms), now_ms);
        Totals {
            unique,
            new_this_run: t.unique,
            candidates: t.candidates,
            duplicates: t.candidates - t.unique,
            near_duplicates: t.near_duplicates,
            batches: t.batches,
            invalid_items: t.invalid,
            rejected_batches: self.rejected.values().sum(),
            rejected_by_kind: self.rejected.clone(),
            repeated_batches: self.repeated,
            uniqueness_ratio: y.uniqueness_ratio,
            unique_per_min: y.unique_per_min,
            tokens_in: t
                .tokens_in
                .saturating_add(self.jobs.tokens_in)
                .saturating_add(self.judge_spend().spend.tokens_in),
            tokens_cached_in: t.tokens_cached_in,
            tokens_out: t
                .tokens_out
                .saturating_add(self.jobs.tokens_out)
                .saturating_add(self.judge_spend().spend.tokens_out),
            cost_usd: self.cost_usd(),
            elapsed_s: self.elapsed(now_ms) as f64 / 1000.0,
            validity: Validity::default(),
        }
    }

    /// Yields per provider; fleet counters (requests, failures, health) are
    /// the caller's to add.
    pub fn providers(&self, now_ms: u64) -> BTreeMap<String, ProviderStats> {
        let elapsed = self.elapsed(now_ms);
        let judging = self.judge_spend();
        let mut out: BTreeMap<String, ProviderStats> = self
            .providers
            .iter()
            .map(|(name, (model, acc))| {
                let stats = ProviderStats {
                    model: model.clone(),
                    yields: acc.yields(elapsed, now_ms),
                    ..ProviderStats::default()
                };
                (name.clone(), stats)
            })
            .collect();
        // A provider that only judges is listed too.
        for (name, (calls, cost)) in judging.by_provider {
            let stats = out.entry(name).or_default();
            stats.judge_calls = calls;
            stats.judge_cost_usd = cost;
        }
        out
    }

    pub fn models(&self, now_ms: u64) -> BTreeMap<String, Yield> {
        let elapsed = self.elapsed(now_ms);
        self.models
            .iter()
            .map(|(m, acc)| (m.clone(), acc.yields(elapsed, now_ms)))
            .collect()
    }

    pub fn worker(&self, worker_id: &str, now_ms: u64) -> Yield {
        self.workers
            .get(worker_id)
            .map(|a| a.yields(self.elapsed(now_ms), now_ms))
            .unwrap_or_default()
    }

    pub fn partitions(&self, now_ms: u64) -> Vec<PartitionStats> {
        let elapsed = self.elapsed(now_ms);
        self.partitions
            .iter()
            .map(|(name, acc)| PartitionStats {
                name: name.clone(),
                state: "active".into(),
                yields: acc.yields(elapsed, now_ms),
            })
            .collect()
    }

    /// What the run spent: its batches, its partition jobs and its judge
    /// jobs.
    pub fn cost_usd(&self) -> f64 {
        self.total.cost_usd
            + self.jobs.cost_usd
            + self.judging.spend.cost_usd
            + self.judging_unrecorded.spend.cost_usd
    }

    pub fn candidates(&self) -> u64 {
        self.total.candidates
    }

    /// New items per 1k tokens over the last [`RECENT_BATCHES`] answers;
    /// `None` until there are that many.
    pub fn recent_yield_per_1k_tokens(&self) -> Option<f64> {
        if self.recent.len() < RECENT_BATCHES {
            return None;
        }
        let (new, tokens) = self
            .recent
            .iter()
            .fold((0, 0), |(n, t), (dn, dt)| (n + dn, t + dt));
        Some(ratio(new as f64 * 1000.0, tokens as f64))
    }
}

/// The 95% Wilson score interval of `k` successes in `n` trials ((0, 0)
/// when `n` is 0).
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let den = 1.0 + z * z / n;
    (
        ((centre - spread) / den).max(0.0),
        ((centre + spread) / den).min(1.0),
    )
}

fn ratio(num: f64, den: f64) -> f64 {
    if den <= 0.0 { 0.0 } else { num / den }
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
#[path = "stats_tests.rs"]
mod tests;
