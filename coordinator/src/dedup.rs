//! The seen-set: one entry per unique item, keyed by the 128-bit hash of its
//! normalized key, with a sighting count for the saturation estimate.
//!
//! Keys are already uniformly distributed hashes, so the map uses them as
//! their own hash instead of hashing them again; an entry costs 20 bytes of
//! payload, which keeps ten million items within a few hundred MB.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use igentai_protocol::Estimate;

/// Passes a pre-computed 128-bit hash through as the map's 64-bit hash.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than u128; fold them in.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, i: u128) {
        self.0 = (i as u64) ^ ((i >> 64) as u64);
    }
}

/// Unique items seen so far and how often each was seen.
#[derive(Default)]
pub struct SeenSet {
    counts: HashMap<u128, u32, BuildHasherDefault<PassThrough>>,
    /// Items seen exactly once / exactly twice, kept current on every insert.
    f1: u64,
    f2: u64,
}

impl SeenSet {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            counts: HashMap::with_capacity_and_hasher(n, Default::default()),
            ..Self::default()
        }
    }

    /// Records one sighting; true when the item was not seen before.
    pub fn insert(&mut self, hash: u128) -> bool {
        let count = self.counts.entry(hash).or_insert(0);
        *count = count.saturating_add(1);
        match *count {
            1 => self.f1 += 1,
            2 => {
                self.f1 -= 1;
                self.f2 += 1;
            }
            3 => self.f2 -= 1,
            _ => {}
        }
        *count == 1
    }

    pub fn contains(&self, hash: u128) -> bool {
        self.counts.contains_key(&hash)
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
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
    }

    #[test]
    fn chao1_values() {
        let check = |s, f1, f2, total: f64| {
            let e = chao1(s, f1, f2).unwrap();
            assert!((e.total - total).abs() < 1e-9, "chao1({s},{f1},{f2}) = {}", e.total);
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
