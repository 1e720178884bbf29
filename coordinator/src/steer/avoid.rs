//! Avoid hints: the items a partition's answers keep repeating, named in
//! its prompts only where that pays.
//!
//! Pure. Models repeat popular items, so the items worth naming as
//! "already known" are the ones seen again and again, not the latest
//! finds. Each partition keeps a bounded tally of its duplicate sightings;
//! the hint is its most-repeated items. A hint costs input tokens on every
//! call and models obey it only in part, so it is sent only while the
//! partition's recent answers are mostly duplicates
//! ([`Policy::below`]), a partition still yielding well gets none; and it
//! names only items that recur in at least half of the partition's answers
//! since their first repeat ([`Policy::min_rate`]): an item repeated less
//! often saves fewer tokens than naming it costs.

use std::collections::{HashMap, VecDeque};

/// Items tallied per partition before the least repeated are dropped.
const CAPACITY: usize = 400;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Items named in a hint, at most.
    pub items: usize,
    /// An item is named only while it recurs in at least this share of
    /// the partition's answers since it was first repeated.
    pub min_rate: f64,
    /// Repeats an item needs before its rate counts.
    pub min_repeats: u32,
    /// Hints are sent while the recent uniqueness is below this.
    pub below: f64,
    /// Answers in a partition's window.
    pub window: usize,
    /// Candidates the window needs before the uniqueness counts.
    pub judge_after: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            items: 20,
            // Measured with `scripts/bench-yield.sh`: a named item costs
            // its tokens on every call and the model leaves it out only in
            // part, so only items most answers repeat pay for themselves.
            min_rate: 0.5,
            min_repeats: 3,
            below: 0.5,
            window: 10,
            judge_after: 60,
        }
    }
}

/// One repeated item of a partition.
#[derive(Debug, Clone)]
struct Tally {
    /// The first spelling seen.
    spelling: String,
    /// Duplicate sightings.
    repeats: u32,
    /// The partition's answer in which it was first repeated.
    since: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Hot {
    /// By the 128-bit hash of the normalized key, as the seen-set has it.
    counts: HashMap<u128, Tally>,
    /// Answers seen in the partition.
    answers: u64,
    /// (candidates, new) of the last answers.
    recent: VecDeque<(u64, u64)>,
}

impl Hot {
    /// Counts one duplicate sighting of `item` (whose key hashes to `key`)
    /// in the partition's latest answer; spellings of one item ("The
    /// Louvre", "louvre.") share a key and count together under the first
    /// seen.
    pub fn record(&mut self, key: u128, item: &str) {
        let answer = self.answers;
        self.counts
            .entry(key)
            .or_insert_with(|| Tally {
                spelling: item.to_string(),
                repeats: 0,
                since: answer,
            })
            .repeats += 1;
        if self.counts.len() > CAPACITY * 2 {
            let mut tally: Vec<u32> = self.counts.values().map(|v| v.repeats).collect();
            let (_, &mut cut, _) = tally.select_nth_unstable_by(CAPACITY, |a, b| b.cmp(a));
            // Keep the most repeated; ties at the cut (mostly items repeated
            // once) are noise.
            self.counts.retain(|_, v| v.repeats > cut);
        }
    }

    /// Share of the answers since `t` was first repeated that repeat it.
    fn rate(&self, t: &Tally) -> f64 {
        f64::from(t.repeats) / (self.answers.saturating_sub(t.since) + 1) as f64
    }

    /// The `n` most repeated items, most repeated first, among those
    /// repeated at least `min_repeats` times in at least `min_rate` of the
    /// answers since.
    pub fn top(&self, n: usize, min_rate: f64, min_repeats: u32) -> Vec<String> {
        let mut items: Vec<&Tally> = self
            .counts
            .values()
            .filter(|t| t.repeats >= min_repeats && self.rate(t) >= min_rate)
            .collect();
        items.sort_by(|a, b| {
            b.repeats
                .cmp(&a.repeats)
                .then_with(|| a.spelling.cmp(&b.spelling))
        });
        items
            .into_iter()
            .take(n)
            .map(|t| t.spelling.clone())
            .collect()
    }

    /// New items / candidates over the window, once it holds enough.
    fn uniqueness(&self, judge_after: u64) -> Option<f64> {
        let (c, n) = self
            .recent
            .iter()
            .fold((0, 0), |(c, n), (dc, dn)| (c + dc, n + dn));
        (c >= judge_after && c > 0).then(|| n as f64 / c as f64)
    }
}

/// Avoid tallies per partition (`None`: the whole topic).
#[derive(Debug, Default, Clone)]
pub struct Avoid {
    policy: Policy,
    by_partition: HashMap<Option<String>, Hot>,
}

impl Avoid {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            by_partition: HashMap::new(),
        }
    }

    /// Learns from one answer in `partition`: how many of its `candidates`
    /// were `new`, and which of the others were seen before.
    pub fn observe(
        &mut self,
        partition: Option<&str>,
        candidates: u64,
        new: u64,
        duplicates: &[(u128, &str)],
    ) {
        let hot = self
            .by_partition
            .entry(partition.map(str::to_string))
            .or_default();
        if hot.recent.len() >= self.policy.window.max(1) {
            hot.recent.pop_front();
        }
        hot.recent.push_back((candidates, new));
        hot.answers += 1;
        for &(key, item) in duplicates {
            hot.record(key, item);
        }
    }

    /// The hint for `partition`: its most repeated items while its answers
    /// are mostly duplicates, else none.
    pub fn hint(&self, partition: Option<&str>) -> Vec<String> {
        let Some(hot) = self.by_partition.get(&partition.map(str::to_string)) else {
            return Vec::new();
        };
        match hot.uniqueness(self.policy.judge_after) {
            Some(u) if u < self.policy.below => hot.top(
                self.policy.items,
                self.policy.min_rate,
                self.policy.min_repeats,
            ),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::normalize::{key_hash, normalize};

    fn key(item: &str) -> u128 {
        key_hash(&normalize(item))
    }

    /// Duplicates as ingest hands them over: key hash and spelling.
    fn keyed(items: &[String]) -> Vec<(u128, &str)> {
        items.iter().map(|i| (key(i), i.as_str())).collect()
    }

    fn dups(items: &[(&str, usize)]) -> Vec<String> {
        items
            .iter()
            .flat_map(|(item, times)| std::iter::repeat_n(item.to_string(), *times))
            .collect()
    }

    #[test]
    fn hints_name_the_most_repeated_items_per_partition() {
        let mut avoid = Avoid::new(Policy {
            items: 2,
            ..Policy::default()
        });
        let mut repeated = dups(&[("Louvre", 3), ("Orsay", 3), ("Pantheon", 1)]);
        repeated.extend(dups(&[("The Louvre.", 1), ("louvre", 1)]));
        avoid.observe(Some("Museums"), 100, 10, &keyed(&repeated));
        avoid.observe(None, 100, 10, &keyed(&dups(&[("Eiffel Tower", 3)])));
        assert_eq!(avoid.hint(Some("Museums")), ["Louvre", "Orsay"]);
        assert_eq!(avoid.hint(None), ["Eiffel Tower"]);
        assert!(avoid.hint(Some("Parks")).is_empty());
    }

    #[test]
    fn hints_only_where_answers_are_mostly_duplicates() {
        let check = |answers: &[(u64, u64)], expected: bool| {
            let mut avoid = Avoid::default();
            for (candidates, new) in answers {
                avoid.observe(
                    Some("Parks"),
                    *candidates,
                    *new,
                    &keyed(&dups(&[("Parc Monceau", 1)])),
                );
            }
            assert_eq!(
                !avoid.hint(Some("Parks")).is_empty(),
                expected,
                "{answers:?}"
            );
        };
        check(&[(20, 19), (20, 17), (20, 18)], false); // fresh ground
        check(&[(20, 2), (20, 3), (20, 1)], true); // saturated
        check(&[(20, 2)], false); // too little to judge
        // The window forgets old answers: a partition that became barren.
        let mut answers = vec![(20, 20); 10];
        answers.extend([(20, 1); 10]);
        check(&answers, true);
    }

    #[test]
    fn hints_name_only_items_most_answers_repeat() {
        let mut avoid = Avoid::default();
        // "Louvre" comes back in every answer, "Orsay" in one in four,
        // "Pantheon" often but only long ago, "Opera" twice.
        for i in 0..40 {
            let mut repeated = vec!["Louvre".to_string()];
            if i % 4 == 0 {
                repeated.push("Orsay".into());
            }
            if i < 8 {
                repeated.push("Pantheon".into());
            }
            if i >= 38 {
                repeated.push("Opera".into());
            }
            avoid.observe(Some("Museums"), 20, 2, &keyed(&repeated));
        }
        assert_eq!(avoid.hint(Some("Museums")), ["Louvre"]);
    }

    #[test]
    fn tally_stays_bounded_and_keeps_the_head() {
        let mut hot = Hot::default();
        for _ in 0..50 {
            hot.record(key("head"), "head");
        }
        for i in 0..10_000 {
            let tail = format!("tail {i}");
            hot.record(key(&tail), &tail);
        }
        assert!(hot.counts.len() <= CAPACITY * 2 + 1);
        assert_eq!(hot.top(1, 0.0, 1), ["head"]);
    }
}
