//! The seen-set: one entry per unique item, keyed by the 128-bit hash of its
//! normalized key, with a sighting count for the saturation estimate.
//!
//! The hashes live in a [`HashTable`] (16-byte slots, one cache line per
//! lookup) mapping each key to the item's index. An item's index follows
//! insertion order, which is `output.txt` order, so the index of an item is
//! its line number less one. A near-duplicate's key is added as an alias of
//! the item it merged into ([`SeenSet::add_alias`]): the same spelling
//! again is then a plain duplicate, and every sighting counts for that item.
//!
//! An item's sighting count is one byte in a vector by index (saturating at
//! 255). Which sightings count, and when, is the topic's business
//! (`topic/sightings.rs`): this set only adds them up.

use igentai_protocol::Estimate;

use crate::keys::table::HashTable;

/// Unique items seen so far and how often each was seen.
#[derive(PartialEq)]
pub struct SeenSet {
    keys: HashTable,
    /// Sightings per item, by insertion index; saturates at 255.
    counts: Vec<u8>,
    /// Items seen exactly once / exactly twice, kept current on every insert.
    f1: u64,
    f2: u64,
}

impl Default for SeenSet {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl SeenSet {
    /// A set that holds `n` items without growing.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            keys: HashTable::with_capacity(n),
            counts: Vec::with_capacity(n),
            f1: 0,
            f2: 0,
        }
    }

    /// Records one sighting; true when the item was not seen before.
    pub fn insert(&mut self, hash: u128) -> bool {
        match self.find(hash) {
            Some(index) => {
                self.sight(index);
                false
            }
            None => {
                self.add(hash);
                true
            }
        }
    }

    /// Records one sighting of each of `hashes`, in order, setting `new[i]`
    /// when `hashes[i]` was not seen before (a hash repeated within the
    /// batch is new only the first time).
    pub fn insert_batch(&mut self, hashes: &[u128], new: &mut [bool]) {
        assert_eq!(hashes.len(), new.len(), "one flag per hash");
        self.prefetch(hashes);
        for (&hash, new) in hashes.iter().zip(new) {
            *new = self.insert(hash);
        }
    }

    /// Makes the lookups of `hashes` cheaper (see [`HashTable::prefetch`]).
    pub fn prefetch(&mut self, hashes: &[u128]) {
        self.keys.prefetch(hashes);
    }

    /// The index of the item whose key (or alias) hashes to `hash`.
    pub fn find(&self, hash: u128) -> Option<usize> {
        self.keys.get(hash).map(|i| i as usize)
    }

    /// The index of the item one of whose keys (or aliases) has a hash
    /// whose low 64 bits are `low` (a sighting as a batch line records it).
    pub fn find_low(&self, low: u64) -> Option<usize> {
        self.keys.get_low(low).map(|i| i as usize)
    }

    /// Keys held: items and aliases.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Records one more sighting of the item at `index`.
    pub fn sight(&mut self, index: usize) {
        let old = self.counts[index];
        self.counts[index] = old.saturating_add(1);
        self.shift(old, self.counts[index]);
    }

    /// A new item, seen once, at the next index (returned). Its key is
    /// `hash`, unless an earlier item has that key already: a line of
    /// `output.txt` that keys as an earlier one still takes its index, so
    /// indexes stay line numbers.
    pub fn add(&mut self, hash: u128) -> usize {
        let index = self.counts.len();
        let value = u32::try_from(index).expect("the seen-set holds fewer than 2³² items");
        self.keys.insert(hash, value);
        self.counts.push(1);
        self.f1 += 1;
        index
    }

    /// Makes `hash` another key of the item at `index` (no sighting); a
    /// key already known keeps its item.
    pub fn add_alias(&mut self, hash: u128, index: usize) {
        assert!(index < self.counts.len(), "an alias of a known item");
        self.keys.insert(hash, index as u32);
    }

    /// Keeps f1 and f2 current when one item's count moves from `old` to `new`.
    fn shift(&mut self, old: u8, new: u8) {
        match old {
            1 => self.f1 -= 1,
            2 => self.f2 -= 1,
            _ => {}
        }
        match new {
            1 => self.f1 += 1,
            2 => self.f2 += 1,
            _ => {}
        }
    }

    pub fn contains(&self, hash: u128) -> bool {
        self.keys.get(hash).is_some()
    }

    /// Unique items (aliases are not items).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Sighting counts by insertion index, for saving.
    pub fn counts(&self) -> &[u8] {
        &self.counts
    }

    /// Restores saved sighting counts (a prefix is fine: items found after
    /// the save keep what they have); counts only ever grow.
    pub fn restore_counts(&mut self, saved: &[u8]) {
        for (i, &c) in saved.iter().enumerate().take(self.counts.len()) {
            let old = self.counts[i];
            if c > old {
                self.counts[i] = c;
                self.shift(old, c);
            }
        }
    }

    /// Chao1 species-richness estimate of how many distinct items exist.
    pub fn estimate(&self) -> Option<Estimate> {
        chao1(self.len() as u64, self.f1, self.f2)
    }
}

/// Chao1: S + f1² / (2 f2), or the bias-corrected S + f1 (f1 − 1) / 2 when
/// no item was seen exactly twice. `None` before anything was seen.
pub fn chao1(observed: u64, f1: u64, f2: u64) -> Option<Estimate> {
    if observed == 0 {
        return None;
    }
    let (s, f1f, f2f) = (observed as f64, f1 as f64, f2 as f64);
    let total = if f2 > 0 {
        s + f1f * f1f / (2.0 * f2f)
    } else {
        s + f1f * (f1f - 1.0).max(0.0) / 2.0
    };
    Some(Estimate {
        total,
        coverage: (s / total).clamp(0.0, 1.0),
        f1,
        f2,
        valid: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sightings() {
        let mut seen = SeenSet::default();
        assert!(seen.insert(1));
        assert!(!seen.insert(1));
        assert!(seen.insert(2));
        assert!(!seen.insert(1));
        assert!(seen.insert(3));
        // 1 seen three times, 2 and 3 once.
        assert_eq!((seen.len(), seen.f1, seen.f2), (3, 2, 0));
        assert!(!seen.insert(2));
        assert_eq!((seen.f1, seen.f2), (1, 1));
        assert!(seen.contains(3) && !seen.contains(4));
        assert_eq!(seen.counts(), [3, 2, 1]);
    }

    #[test]
    fn restores_saved_counts() {
        let mut seen = SeenSet::default();
        for h in [10, 20, 30] {
            seen.insert(h);
        }
        seen.insert(30);
        seen.restore_counts(&[2, 5]);
        assert_eq!(seen.counts(), [2, 5, 2]);
        assert_eq!((seen.f1, seen.f2), (0, 2));
        // Counts saturate rather than wrap.
        let mut seen = SeenSet::default();
        for _ in 0..300 {
            seen.insert(1);
        }
        assert_eq!(seen.counts(), [255]);
        assert_eq!(u128::MAX as u64, u64::MAX);
        assert!(seen.insert(u128::MAX) && seen.contains(u128::MAX));
    }

    #[test]
    fn agrees_with_a_hash_map() {
        let mut state = 7u64;
        let hashes: Vec<u128> = (0..20_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                u128::from(state >> 51).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
            })
            .collect();
        let mut index = std::collections::HashMap::<u128, usize>::new();
        let mut counts: Vec<u8> = Vec::new();
        let expected_new: Vec<bool> = hashes
            .iter()
            .map(|h| match index.get(h) {
                Some(&i) => {
                    counts[i] = counts[i].saturating_add(1);
                    false
                }
                None => {
                    index.insert(*h, counts.len());
                    counts.push(1);
                    true
                }
            })
            .collect();
        let mut batched = SeenSet::with_capacity(3);
        let mut new = vec![false; hashes.len()];
        for (hashes, new) in hashes.chunks(50).zip(new.chunks_mut(50)) {
            batched.insert_batch(hashes, new);
        }
        assert_eq!(new, expected_new);
        assert_eq!(batched.counts(), counts);
        let f1 = counts.iter().filter(|&&c| c == 1).count() as u64;
        let f2 = counts.iter().filter(|&&c| c == 2).count() as u64;
        assert_eq!((batched.f1, batched.f2), (f1, f2));
    }

    #[test]
    fn aliases_count_for_their_item_and_lines_keep_their_index() {
        let mut seen = SeenSet::default();
        assert_eq!(seen.add(10), 0);
        assert_eq!(seen.add(20), 1);
        seen.add_alias(11, 0);
        assert_eq!(seen.find(11), Some(0));
        // An alias is no item, and a known key keeps its item.
        seen.add_alias(20, 0);
        assert_eq!((seen.len(), seen.find(20)), (2, Some(1)));
        assert!(!seen.insert(11));
        assert_eq!(seen.counts(), [2, 1]);
        // A line keying as an earlier one still takes the next index.
        assert_eq!(seen.add(10), 2);
        assert_eq!((seen.find(10), seen.len()), (Some(0), 3));
        assert_eq!((seen.f1, seen.f2), (2, 1));
    }

    #[test]
    fn chao1_values() {
        let check = |s, f1, f2, total: f64| {
            let e = chao1(s, f1, f2).unwrap();
            assert!(
                (e.total - total).abs() < 1e-9,
                "chao1({s},{f1},{f2}) = {}",
                e.total
            );
            assert!((e.coverage - s as f64 / total).abs() < 1e-9);
        };
        check(100, 40, 20, 140.0);
        check(10, 4, 2, 14.0);
        check(10, 0, 5, 10.0);
        check(10, 5, 0, 20.0);
        check(1, 1, 0, 1.0);
        assert_eq!(chao1(0, 0, 0), None);
    }
}
