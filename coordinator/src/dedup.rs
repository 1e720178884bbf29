//! The seen-set: one entry per unique item, keyed by the 128-bit hash of its
//! normalized key, with a sighting count for the saturation estimate.
//!
//! Keys are already uniformly distributed hashes, so the set is a plain
//! open-addressing table with linear probing, placed by the key's low bits.
//! A slot is 16 bytes: 96 bits of the key and the item's index, so one
//! lookup touches one cache line and ten million items take 256 MiB of
//! slots at most (the table is at most three quarters full, and at least
//! three eighths after growing). Two distinct keys agreeing on those 96 bits
//! are as likely as n²/2⁹⁷: about 10⁻¹⁵ for ten million items.
//!
//! An item's sighting count is one byte in a vector by index (saturating at
//! 255). Indexes follow insertion order, which is `output.txt` order, so the
//! counts can be saved as one byte per line and restored on start.
//!
//! Inserting a batch ([`SeenSet::insert_batch`]) first reads every slot it
//! will probe, so their cache misses overlap instead of queueing one behind
//! the other.

use std::hint::black_box;

use igentai_protocol::Estimate;

/// One slot: the key's low 64 bits, and its next 32 bits above the item's
/// index plus one; all zero when empty.
#[derive(Clone, Copy, Default)]
struct Slot {
    low: u64,
    high_and_index: u64,
}

impl Slot {
    fn is_empty(self) -> bool {
        self.high_and_index == 0
    }

    fn index(self) -> usize {
        (self.high_and_index as u32 - 1) as usize
    }
}

/// The parts of a 128-bit hash a slot holds.
fn split(hash: u128) -> (u64, u64) {
    (hash as u64, (hash >> 64) as u32 as u64)
}

/// Fewest slots of a table.
const MIN_SLOTS: usize = 16;

/// Unique items seen so far and how often each was seen.
pub struct SeenSet {
    slots: Vec<Slot>,
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
            slots: vec![Slot::default(); slots_for(n)],
            counts: Vec::with_capacity(n),
            f1: 0,
            f2: 0,
        }
    }

    /// Records one sighting; true when the item was not seen before.
    pub fn insert(&mut self, hash: u128) -> bool {
        self.reserve(1);
        self.insert_reserved(hash)
    }

    /// Records one sighting of each of `hashes`, in order, setting `new[i]`
    /// when `hashes[i]` was not seen before (a hash repeated within the
    /// batch is new only the first time).
    pub fn insert_batch(&mut self, hashes: &[u128], new: &mut [bool]) {
        assert_eq!(hashes.len(), new.len(), "one flag per hash");
        // Grown first, so the slots read below are the ones probed after.
        self.reserve(hashes.len());
        let mask = self.mask();
        let touched = hashes.iter().fold(0, |acc, &h| {
            acc ^ self.slots[split(h).0 as usize & mask].low
        });
        black_box(touched);
        for (&hash, new) in hashes.iter().zip(new) {
            *new = self.insert_reserved(hash);
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Inserts with room for one more item already made.
    fn insert_reserved(&mut self, hash: u128) -> bool {
        let (low, high) = split(hash);
        let mask = self.mask();
        let mut at = low as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.is_empty() {
                let index = u32::try_from(self.counts.len() + 1)
                    .expect("the seen-set holds fewer than 2³² items");
                self.slots[at] = Slot {
                    low,
                    high_and_index: high << 32 | u64::from(index),
                };
                self.counts.push(1);
                self.f1 += 1;
                return true;
            }
            if slot.low == low && slot.high_and_index >> 32 == high {
                let i = slot.index();
                let old = self.counts[i];
                self.counts[i] = old.saturating_add(1);
                self.shift(old, self.counts[i]);
                return false;
            }
            at = (at + 1) & mask;
        }
    }

    /// Makes room for `additional` more items without growing.
    fn reserve(&mut self, additional: usize) {
        let needed = slots_for(self.counts.len() + additional);
        if needed > self.slots.len() {
            self.rehash(needed);
        }
    }

    fn rehash(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots]);
        let mask = self.mask();
        for slot in old.into_iter().filter(|s| !s.is_empty()) {
            let mut at = slot.low as usize & mask;
            while !self.slots[at].is_empty() {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
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
        let (low, high) = split(hash);
        let mask = self.mask();
        let mut at = low as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.is_empty() {
                return false;
            }
            if slot.low == low && slot.high_and_index >> 32 == high {
                return true;
            }
            at = (at + 1) & mask;
        }
    }

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

/// Slots for `n` items: a power of two, at most three quarters full.
fn slots_for(n: usize) -> usize {
    (n + n / 3 + 1).next_power_of_two().max(MIN_SLOTS)
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

    /// A reference model: the same sightings counted in a HashMap.
    fn model(hashes: &[u128]) -> (Vec<bool>, Vec<u8>) {
        let mut index = std::collections::HashMap::<u128, usize>::new();
        let mut counts: Vec<u8> = Vec::new();
        let new = hashes
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
        (new, counts)
    }

    /// Hashes that collide a lot: few distinct low words (same slot, long
    /// probe runs), high words differing only in bits the slot keeps or in
    /// bits it drops, and repeats.
    fn awkward_hashes(n: u64) -> Vec<u128> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let low = match i % 4 {
                    0 => state % 8,
                    1 => state << 20,
                    _ => state,
                };
                let high = u128::from(state % 5) << 64;
                let repeat = i % 7 == 0 && i > 0;
                if repeat {
                    u128::from(i / 2)
                } else {
                    high | u128::from(low)
                }
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_hash_map_through_growth_and_collisions() {
        let hashes = awkward_hashes(20_000);
        let (expected_new, expected_counts) = model(&hashes);

        let mut one_by_one = SeenSet::default();
        let new: Vec<bool> = hashes.iter().map(|&h| one_by_one.insert(h)).collect();
        assert_eq!(new, expected_new);
        assert_eq!(one_by_one.counts(), expected_counts);

        let mut batched = SeenSet::with_capacity(3);
        let mut new = vec![false; hashes.len()];
        for (hashes, new) in hashes.chunks(50).zip(new.chunks_mut(50)) {
            batched.insert_batch(hashes, new);
        }
        assert_eq!(new, expected_new);
        assert_eq!(batched.counts(), expected_counts);

        for h in &hashes {
            assert!(batched.contains(*h));
        }
        assert!(!batched.contains(u128::from(u64::MAX - 1) | 7 << 64));
        let f1 = expected_counts.iter().filter(|&&c| c == 1).count() as u64;
        let f2 = expected_counts.iter().filter(|&&c| c == 2).count() as u64;
        assert_eq!((batched.f1, batched.f2), (f1, f2));
    }

    #[test]
    fn keys_differing_only_above_the_kept_bits_are_one_item() {
        // The slot keeps bits 0..96: keys differing only above them are
        // taken for one key (the chance of that is documented above).
        let mut seen = SeenSet::default();
        assert!(seen.insert(5));
        assert!(!seen.insert(5 | 1 << 100));
        // Differing in bits 64..96 or in the low word: distinct.
        assert!(seen.insert(5 | 1 << 64));
        assert!(seen.insert(5 | 1 << 95));
        assert!(seen.insert(6));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn sized_tables_hold_their_capacity_without_growing() {
        for n in [0, 1, 11, 12, 13, 1000, 1 << 16] {
            let slots = slots_for(n);
            assert!(slots.is_power_of_two() && slots >= MIN_SLOTS);
            assert!(n * 4 < slots * 3, "{n} items in {slots} slots");
            let mut seen = SeenSet::with_capacity(n);
            let before = seen.slots.len();
            for h in 0..n as u128 {
                seen.insert(h.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
            }
            assert_eq!(seen.slots.len(), before, "{n} items grew the table");
        }
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
