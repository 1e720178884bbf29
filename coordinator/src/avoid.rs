//! Avoid hints: the items a partition's answers keep repeating.
//!
//! Pure. Models repeat popular items, so the items worth naming in a prompt
//! as "already known" are the ones seen again and again, not the latest
//! finds. Each partition keeps a bounded tally of its duplicate sightings;
//! the hint is its most-repeated items.

use std::collections::HashMap;

/// Items tallied per partition before the least repeated are dropped.
const CAPACITY: usize = 400;

#[derive(Debug, Default, Clone)]
pub struct Hot {
    counts: HashMap<String, u32>,
}

impl Hot {
    /// Counts one duplicate sighting of `item` (as first spelled).
    pub fn record(&mut self, item: &str) {
        *self.counts.entry(item.to_string()).or_default() += 1;
        if self.counts.len() > CAPACITY * 2 {
            let mut tally: Vec<u32> = self.counts.values().copied().collect();
            let (_, &mut cut, _) = tally.select_nth_unstable_by(CAPACITY, |a, b| b.cmp(a));
            // Keep the most repeated; ties at the cut (mostly items repeated
            // once) are noise.
            self.counts.retain(|_, c| *c > cut);
        }
    }

    /// The `n` most repeated items, most repeated first.
    pub fn top(&self, n: usize) -> Vec<String> {
        let mut items: Vec<(&String, u32)> = self.counts.iter().map(|(k, v)| (k, *v)).collect();
        items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        items.into_iter().take(n).map(|(k, _)| k.clone()).collect()
    }
}

/// Avoid tallies per partition (`None`: the whole topic).
#[derive(Debug, Default, Clone)]
pub struct Avoid {
    by_partition: HashMap<Option<String>, Hot>,
}

impl Avoid {
    pub fn record(&mut self, partition: Option<&str>, item: &str) {
        self.by_partition
            .entry(partition.map(str::to_string))
            .or_default()
            .record(item);
    }

    pub fn hint(&self, partition: Option<&str>, n: usize) -> Vec<String> {
        self.by_partition
            .get(&partition.map(str::to_string))
            .map(|h| h.top(n))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_most_repeated_items_per_partition() {
        let mut avoid = Avoid::default();
        for (item, times) in [("Louvre", 5), ("Orsay", 3), ("Pantheon", 1)] {
            for _ in 0..times {
                avoid.record(Some("Museums"), item);
            }
        }
        avoid.record(None, "Eiffel Tower");
        assert_eq!(avoid.hint(Some("Museums"), 2), ["Louvre", "Orsay"]);
        assert_eq!(avoid.hint(None, 5), ["Eiffel Tower"]);
        assert!(avoid.hint(Some("Parks"), 5).is_empty());
    }

    #[test]
    fn tally_stays_bounded_and_keeps_the_head() {
        let mut hot = Hot::default();
        for _ in 0..50 {
            hot.record("head");
        }
        for i in 0..10_000 {
            hot.record(&format!("tail {i}"));
        }
        assert!(hot.counts.len() <= CAPACITY * 2 + 1);
        assert_eq!(hot.top(1), ["head"]);
    }
}
