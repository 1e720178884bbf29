//! The seen-set: one entry per unique item, keyed by the 128-bit hash of its
//! normalized key, with a sighting count for the saturation estimate.
//!
//! Keys are already uniformly distributed hashes, so the map uses them as
//! their own hash instead of hashing them again. An entry is the key and the
//! item's index (24 bytes with padding), and its sighting count is one byte
//! in a vector by index (saturating at 255), so ten million items take a few
//! hundred MB. Indexes follow insertion order, which is `output.txt` order,
//! so the counts can be saved as one byte per line and restored on start.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use igentai_protocol::Estimate;

/// A 128-bit key hash, stored as two words so entries need only 8-byte alignment.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u64, u64);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 ^ self.1);
    }
}

/// Passes a pre-computed hash through as the map's hash.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than `Key`; fold them in.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// Unique items seen so far and how often each was seen.
#[derive(Default)]
pub struct SeenSet {
    index: HashMap<Key, u32, BuildHasherDefault<PassThrough>>,
    /// Sightings per item, by insertion index; saturates at 255.
    counts: Vec<u8>,
    /// Items seen exactly once / exactly twice, kept current on every insert.
    f1: u64,
    f2: u64,
}

impl SeenSet {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            index: HashMap::with_capacity_and_hasher(n, Default::default()),
            counts: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Records one sighting; true when the item was not seen before.
    pub fn insert(&mut self, hash: u128) -> bool {
        let key = Key(hash as u64, (hash >> 64) as u64);
        match self.index.entry(key) {
            Entry::Occupied(e) => {
                let i = *e.get() as usize;
                let old = self.counts[i];
                self.counts[i] = old.saturating_add(1);
                self.shift(old, self.counts[i]);
                false
            }
            Entry::Vacant(e) => {
                e.insert(self.counts.len() as u32);
                self.counts.push(1);
                self.f1 += 1;
                true
            }
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
        self.index
            .contains_key(&Key(hash as u64, (hash >> 64) as u64))
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
