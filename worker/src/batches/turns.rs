//! How a worker's effort is split between live calls and vendor batches:
//! by the weights of the moment, as it is split among live providers.
//!
//! Each turn of a generation slot draws a provider by weight among the
//! live ones and the batch-mode ones ([`draw`]). A turn drawn by a
//! batch-mode provider becomes one request of that provider's next vendor
//! batch ([`Pending`]), and the slot rests for as long as a live call
//! takes ([`Pace`]), so the worker keeps its pace and a batch provider's
//! weight takes calls away from the live ones: the bandit, which weighs a
//! batch provider at its batch price, decides the split on valid items per
//! dollar. A worker with no live provider has no turns to split; its batch
//! runners submit full batches whenever the weights want them.
//!
//! Pure but for the clock the callers pass in.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::providers::choose;
use crate::rng::Rng;

/// The batch-mode provider (an index into `batch`) this turn goes to, or
/// `None` for a live call: drawn by `weights` among the live providers'
/// names and the batch-mode ones, uniformly when none has a positive
/// weight (as the live lease does). `None` as well when there is no live
/// provider: then there are no turns to split.
pub fn draw(
    weights: &BTreeMap<String, f64>,
    live: &[&str],
    batch: &[&str],
    rng: &mut Rng,
) -> Option<usize> {
    if live.is_empty() || batch.is_empty() {
        return None;
    }
    let weight = |name: &str| {
        weights
            .get(name)
            .copied()
            .filter(|w| w.is_finite() && *w > 0.0)
            .unwrap_or(0.0)
    };
    let mut all: Vec<f64> = live.iter().chain(batch).map(|n| weight(n)).collect();
    if all.iter().all(|w| *w == 0.0) {
        all.iter_mut().for_each(|w| *w = 1.0);
    }
    choose(&all, rng).and_then(|i| i.checked_sub(live.len()))
}

/// Whether a batch-mode provider takes more turns: a batch of its can go
/// now (`in_flight` below `max_in_flight`), or its next batch is not full
/// yet. At its limit with a full batch drawn, more turns would rest for
/// nothing (live work lost) and pile up requests that go in a rush once
/// there is room; they go to live calls instead, as the live lease skips a
/// provider at its limit.
pub fn takes_turns(in_flight: usize, max_in_flight: usize, drawn: u32, size: u32) -> bool {
    in_flight < max_in_flight || drawn < size
}

/// Whether `weights` want answers from `provider` on a worker without live
/// providers: its weight is above 0, or no weights are given (all equal).
pub fn wanted(weights: &BTreeMap<String, f64>, provider: &str) -> bool {
    weights.is_empty()
        || weights
            .get(provider)
            .is_some_and(|w| w.is_finite() && *w > 0.0)
}

/// The requests drawn for one batch-mode provider's next vendor batch.
#[derive(Debug, Default)]
pub struct Pending {
    requests: Mutex<Requests>,
    /// Woken when a request is drawn, so a full batch goes at once.
    drawn: Notify,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Requests {
    count: u32,
    /// When the oldest of them was drawn.
    since: Option<Instant>,
}

impl Pending {
    /// One more request, drawn at `now`.
    pub fn add(&self, now: Instant) {
        let mut r = self.requests.lock().expect("pending requests");
        r.count = r.count.saturating_add(1);
        r.since.get_or_insert(now);
        drop(r);
        self.drawn.notify_one();
    }

    /// Completes once a request was drawn (since the last time it did).
    pub async fn drawn(&self) {
        self.drawn.notified().await
    }

    /// When the requests drawn so far are due as a batch, full or not.
    pub fn due_by(&self, fill: Duration) -> Option<Instant> {
        self.requests
            .lock()
            .expect("pending requests")
            .since
            .map(|s| s + fill)
    }

    /// The requests of a batch, taken if one is due at `now`: `size` of
    /// them once there are that many, or all there are once the oldest
    /// has waited `fill`.
    pub fn take_due(&self, now: Instant, size: u32, fill: Duration) -> Option<u32> {
        let mut r = self.requests.lock().expect("pending requests");
        let since = r.since?;
        let n = match r.count >= size {
            true => size,
            false if now.saturating_duration_since(since) >= fill => r.count,
            false => return None,
        };
        r.count -= n;
        // The rest keep the oldest's time: none waits longer than `fill`.
        if r.count == 0 {
            r.since = None;
        }
        Some(n)
    }

    /// Gives back `n` requests taken at `at` for a batch that could not be
    /// submitted: they wait for the next one.
    pub fn put_back(&self, n: u32, at: Instant) {
        let mut r = self.requests.lock().expect("pending requests");
        r.count = r.count.saturating_add(n);
        r.since = Some(r.since.map_or(at, |s| s.min(at)));
    }

    /// Requests drawn and not yet in a batch.
    pub fn count(&self) -> u32 {
        self.requests.lock().expect("pending requests").count
    }

    /// Forgets the requests drawn for an assignment that is over.
    pub fn clear(&self) {
        *self.requests.lock().expect("pending requests") = Requests::default();
    }
}

/// How long a live call takes lately: how long a slot rests on a turn that
/// went to a batch. A moving average of the live calls' durations.
#[derive(Debug)]
pub struct Pace(AtomicU64);

/// A turn's length before any live call ended.
const FIRST_PACE: Duration = Duration::from_secs(1);

impl Default for Pace {
    fn default() -> Self {
        Pace(AtomicU64::new(FIRST_PACE.as_millis() as u64))
    }
}

impl Pace {
    /// A live call took `took`: one eighth of the next pace.
    pub fn observe(&self, took: Duration) {
        let sample = took.as_millis().min(u64::MAX as u128) as u64;
        // Lost updates between racing slots only drop a sample.
        let old = self.0.load(Ordering::Relaxed);
        let new = old - old / 8 + sample / 8;
        self.0.store(new.max(1), Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    /// Share of `n` turns drawn to batch provider 0.
    fn batch_share(w: &BTreeMap<String, f64>, live: &[&str], batch: &[&str], n: u32) -> f64 {
        let mut rng = Rng::new(5);
        let hits = (0..n)
            .filter(|_| draw(w, live, batch, &mut rng) == Some(0))
            .count();
        hits as f64 / n as f64
    }

    #[test]
    fn turns_follow_the_weights() {
        let w = weights(&[("live", 0.25), ("bulk", 0.75)]);
        let share = batch_share(&w, &["live"], &["bulk"], 20_000);
        assert!((share - 0.75).abs() < 0.02, "{share}");
        let w = weights(&[("live", 0.9), ("bulk", 0.1)]);
        let share = batch_share(&w, &["live"], &["bulk"], 20_000);
        assert!((share - 0.1).abs() < 0.02, "{share}");
    }

    #[test]
    fn a_batch_provider_without_weight_gets_no_turn() {
        let w = weights(&[("live", 1.0), ("bulk", 0.0)]);
        assert_eq!(batch_share(&w, &["live"], &["bulk"], 1_000), 0.0);
        let w = weights(&[("live", 1.0)]);
        assert_eq!(batch_share(&w, &["live"], &["bulk"], 1_000), 0.0);
    }

    #[test]
    fn without_weights_every_provider_counts_alike() {
        let share = batch_share(&BTreeMap::new(), &["a", "b", "c"], &["bulk"], 20_000);
        assert!((share - 0.25).abs() < 0.02, "{share}");
    }

    #[test]
    fn without_a_live_provider_there_are_no_turns_to_split() {
        let w = weights(&[("bulk", 1.0)]);
        assert_eq!(batch_share(&w, &[], &["bulk"], 100), 0.0);
    }

    #[test]
    fn a_provider_at_its_limit_takes_turns_until_its_next_batch_is_full() {
        assert!(takes_turns(0, 1, 500, 10), "a batch can go");
        assert!(takes_turns(1, 1, 9, 10), "the next one fills");
        assert!(!takes_turns(1, 1, 10, 10), "full, and no room");
        assert!(!takes_turns(2, 1, 12, 10));
    }

    #[test]
    fn a_batch_is_due_when_full_or_when_its_oldest_request_waited() {
        let p = Pending::default();
        let t0 = Instant::now();
        let fill = Duration::from_secs(60);
        assert_eq!(p.take_due(t0, 3, fill), None, "nothing drawn");
        p.add(t0);
        p.add(t0);
        assert_eq!(p.take_due(t0, 3, fill), None, "two of three, fresh");
        for _ in 0..5 {
            p.add(t0);
        }
        assert_eq!(p.take_due(t0, 3, fill), Some(3));
        assert_eq!(p.take_due(t0, 3, fill), Some(3));
        assert_eq!(p.count(), 1);
        let later = t0 + fill;
        assert_eq!(p.take_due(later - Duration::from_secs(1), 3, fill), None);
        assert_eq!(
            p.take_due(later, 3, fill),
            Some(1),
            "the rest, after waiting"
        );
        assert_eq!(p.take_due(later, 3, fill), None);
        p.put_back(2, t0);
        assert_eq!(
            p.take_due(later, 3, fill),
            Some(2),
            "given back, still waited"
        );
        p.add(later);
        p.clear();
        assert_eq!((p.count(), p.take_due(later + fill, 3, fill)), (0, None));
    }

    #[test]
    fn the_pace_follows_the_live_calls() {
        let pace = Pace::default();
        assert_eq!(pace.get(), FIRST_PACE);
        for _ in 0..64 {
            pace.observe(Duration::from_millis(200));
        }
        let ms = pace.get().as_millis();
        assert!((195..=210).contains(&ms), "{ms}");
    }
}
