//! The truth behind the unique keys: which item of the sim's world each
//! stored key really is, so the yield benchmark counts true distinct items
//! rather than distinct spellings, the inflation between the two, the junk
//! stored as items (echoes, placeholders, spellings that kept their
//! description), the invented items stored (names of nothing in the world)
//! and wrong merges (two real items that ended as one key).
//!
//! Keyed by whatever 128-bit key the dedup uses: the ledger only hears
//! "this candidate made a new key" or "this candidate fell into an existing
//! key", so a second, near-duplicate key plugged into the engine is judged
//! by the same counts.

use std::collections::{HashMap, HashSet};

use worker::providers::sim::Verdict;

/// The counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Keys stored (what the coordinator counts as unique items).
    pub keys: u64,
    /// Distinct items of the world among the stored keys.
    pub distinct: u64,
    /// Stored keys that are no item at all (echoes, placeholders).
    pub junk: u64,
    /// Stored keys of a real item spelled with its description.
    pub described: u64,
    /// Stored keys of an invented item: spelled like an item, none of the
    /// world's, so never a true distinct item.
    pub invented: u64,
    /// (key, item) pairs where a real item fell into a key that another
    /// real item owns: an item lost unless it is stored under another key.
    pub wrong_merges: u64,
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// The item each stored key was created by (`None`: junk).
    owner: HashMap<u128, Option<u64>>,
    found: HashSet<u64>,
    merged: HashSet<(u128, u64)>,
    pub tally: Tally,
}

impl Ledger {
    /// A candidate that created the key `key`.
    pub fn stored(&mut self, key: u128, verdict: Verdict) {
        self.tally.keys += 1;
        let item = verdict.item();
        self.owner.insert(key, item);
        match verdict {
            Verdict::Junk => self.tally.junk += 1,
            Verdict::Invented => self.tally.invented += 1,
            Verdict::Described(_) => self.tally.described += 1,
            Verdict::Item(_) => {}
        }
        if let Some(i) = item
            && self.found.insert(i)
        {
            self.tally.distinct += 1;
        }
    }

    /// A candidate that fell into the existing key `key`.
    pub fn merged(&mut self, key: u128, verdict: Verdict) {
        let (Some(Some(owner)), Some(item)) = (self.owner.get(&key), verdict.item()) else {
            return;
        };
        if *owner != item && self.merged.insert((key, item)) {
            self.tally.wrong_merges += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (key, verdict, new) events and compares the tally.
    fn check(events: &[(u128, Verdict, bool)], expected: Tally) {
        let mut ledger = Ledger::default();
        for &(key, verdict, new) in events {
            match new {
                true => ledger.stored(key, verdict),
                false => ledger.merged(key, verdict),
            }
        }
        assert_eq!(ledger.tally, expected, "{events:?}");
    }

    #[test]
    fn counts_true_items_junk_and_wrong_merges() {
        use Verdict::*;
        let tally = |keys, distinct, junk, described, wrong_merges| Tally {
            keys,
            distinct,
            junk,
            described,
            invented: 0,
            wrong_merges,
        };
        check(&[], tally(0, 0, 0, 0, 0));
        // Two spellings of one item: two keys, one item (inflation 2).
        check(
            &[(1, Item(7), true), (2, Item(7), true)],
            tally(2, 1, 0, 0, 0),
        );
        // A repeat of the same item into its key is no merge.
        check(
            &[(1, Item(7), true), (1, Item(7), false)],
            tally(1, 1, 0, 0, 0),
        );
        // Another item falling into the key is a wrong merge, counted once.
        check(
            &[(1, Item(7), true), (1, Item(8), false), (1, Item(8), false)],
            tally(1, 1, 0, 0, 1),
        );
        // Junk keys count as keys, never as items; nothing merges into junk.
        check(
            &[
                (1, Junk, true),
                (1, Item(8), false),
                (2, Described(8), true),
            ],
            tally(2, 1, 1, 1, 0),
        );
        // Inventions are keys of no item, counted apart from junk; a real
        // item falling into one is no wrong merge.
        check(
            &[
                (1, Invented, true),
                (1, Item(8), false),
                (2, Invented, true),
                (3, Item(8), true),
            ],
            Tally {
                invented: 2,
                ..tally(3, 1, 0, 0, 0)
            },
        );
    }
}
