//! A compact map from 128-bit key hashes to 32-bit values: the table under
//! the seen-set (exact keys → items) and the name index (name keys →
//! items).
//!
//! Keys are already uniformly distributed hashes, so the table is plain
//! open addressing with linear probing, placed by the key's low bits. A slot
//! is 16 bytes: 96 bits of the key and the value, so one lookup touches one
//! cache line and ten million entries take 256 MiB of slots at most (the
//! table is at most three quarters full, and at least three eighths after
//! growing). Two distinct keys agreeing on those 96 bits are as likely as
//! n²/2⁹⁷: about 10⁻¹⁵ for ten million entries. Entries are never removed.

use std::hint::black_box;

/// One slot: the key's low 64 bits, and its next 32 bits above the value
/// plus one; all zero when empty.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    low: u64,
    high_and_value: u64,
}

impl Slot {
    fn is_empty(self) -> bool {
        self.high_and_value == 0
    }

    fn value(self) -> u32 {
        self.high_and_value as u32 - 1
    }

    fn holds(self, low: u64, high: u64) -> bool {
        self.low == low && self.high_and_value >> 32 == high
    }
}

/// The parts of a 128-bit hash a slot holds.
fn split(hash: u128) -> (u64, u64) {
    (hash as u64, (hash >> 64) as u32 as u64)
}

/// Fewest slots of a table.
const MIN_SLOTS: usize = 16;

/// The largest value a table holds (one less than `u32::MAX`, which marks
/// empty slots once stored plus one).
pub const MAX_VALUE: u32 = u32::MAX - 1;

/// Two tables are equal when their slots are: the same entries inserted
/// in the same order.
#[derive(PartialEq, Eq)]
pub struct HashTable {
    slots: Vec<Slot>,
    len: usize,
}

impl HashTable {
    /// A table that holds `n` entries without growing.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            slots: vec![Slot::default(); slots_for(n)],
            len: 0,
        }
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The value stored for `hash`.
    pub fn get(&self, hash: u128) -> Option<u32> {
        let (low, high) = split(hash);
        self.probe(low, |slot| slot.holds(low, high))
    }

    /// The value of an entry whose key's low 64 bits (the bits that place
    /// it) are `low`: a lookup by a key shortened to those bits.
    pub fn get_low(&self, low: u64) -> Option<u32> {
        self.probe(low, |slot| slot.low == low)
    }

    /// Walks the slots from where `low` places a key to the first empty
    /// one; the value of the first slot that `matches`.
    fn probe(&self, low: u64, matches: impl Fn(&Slot) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut at = low as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.is_empty() {
                return None;
            }
            if matches(&slot) {
                return Some(slot.value());
            }
            at = (at + 1) & mask;
        }
    }

    /// Stores `hash` → `value` unless `hash` is there already; returns the
    /// value that was there (and is kept).
    pub fn insert(&mut self, hash: u128, value: u32) -> Option<u32> {
        assert!(value <= MAX_VALUE, "table values are below u32::MAX");
        self.reserve(1);
        let (low, high) = split(hash);
        let mask = self.mask();
        let mut at = low as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.is_empty() {
                self.slots[at] = Slot {
                    low,
                    high_and_value: high << 32 | u64::from(value + 1),
                };
                self.len += 1;
                return None;
            }
            if slot.holds(low, high) {
                return Some(slot.value());
            }
            at = (at + 1) & mask;
        }
    }

    /// Reads the first slot each of `hashes` will probe, so that their
    /// cache misses overlap instead of queueing behind each lookup. Grows
    /// the table first (for `hashes.len()` more entries), so the slots read
    /// are the ones probed after.
    pub fn prefetch(&mut self, hashes: &[u128]) {
        self.reserve(hashes.len());
        let mask = self.mask();
        let touched = hashes.iter().fold(0, |acc, &h| {
            acc ^ self.slots[split(h).0 as usize & mask].low
        });
        black_box(touched);
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Makes room for `additional` more entries without growing.
    fn reserve(&mut self, additional: usize) {
        let needed = slots_for(self.len + additional);
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
}

/// Slots for `n` entries: a power of two, at most three quarters full.
fn slots_for(n: usize) -> usize {
    (n + n / 3 + 1).next_power_of_two().max(MIN_SLOTS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut model = std::collections::HashMap::<u128, u32>::new();
        let mut table = HashTable::with_capacity(3);
        for (i, &h) in hashes.iter().enumerate() {
            if i % 50 == 0 {
                table.prefetch(&hashes[i..(i + 50).min(hashes.len())]);
            }
            let expected = model.get(&h).copied();
            model.entry(h).or_insert(i as u32);
            assert_eq!(table.insert(h, i as u32), expected, "{i}");
        }
        assert_eq!(table.len(), model.len());
        for (h, v) in &model {
            assert_eq!(table.get(*h), Some(*v));
        }
        assert_eq!(table.get(u128::from(u64::MAX - 1) | 7 << 64), None);
    }

    #[test]
    fn keys_differing_only_above_the_kept_bits_are_one_key() {
        // The slot keeps bits 0..96: keys differing only above them are
        // taken for one key (the chance of that is documented above).
        let mut table = HashTable::with_capacity(0);
        assert_eq!(table.insert(5, 0), None);
        assert_eq!(table.insert(5 | 1 << 100, 1), Some(0));
        // Differing in bits 64..96 or in the low word: distinct.
        assert_eq!(table.insert(5 | 1 << 64, 2), None);
        assert_eq!(table.insert(5 | 1 << 95, 3), None);
        assert_eq!(table.insert(6, MAX_VALUE), None);
        assert_eq!(table.get(6), Some(MAX_VALUE));
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn sized_tables_hold_their_capacity_without_growing() {
        for n in [0, 1, 11, 12, 13, 1000, 1 << 16] {
            let slots = slots_for(n);
            assert!(slots.is_power_of_two() && slots >= MIN_SLOTS);
            assert!(n * 4 < slots * 3, "{n} entries in {slots} slots");
            let mut table = HashTable::with_capacity(n);
            let before = table.slots.len();
            for h in 0..n as u128 {
                table.insert(h.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835), 0);
            }
            assert_eq!(table.slots.len(), before, "{n} entries grew the table");
        }
    }
}
