//! The name index: name-key hashes → the first item with that name, so a
//! new spelling finds the earlier item it merges into. Hashes, not strings,
//! in the same compact table as the seen-set: one entry per distinct head,
//! and one per item with a qualifier.

use crate::keys::names::NameKey;
use crate::keys::table::HashTable;

/// Flag on a head's entry: the first item with that head had a qualifier.
const QUALIFIED: u32 = 1 << 31;

/// A name key as the index stores it: its head's hash and, when it has a
/// qualifier, the (head, qualifier) pair's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameHashes {
    pub head: u128,
    pub pair: Option<u128>,
}

impl NameHashes {
    pub fn of(key: &NameKey) -> NameHashes {
        NameHashes {
            head: key.head_hash(),
            pair: key.pair_hash(),
        }
    }
}

/// Finds the earlier item a name key merges into. Values are item indexes
/// (`output.txt` line less one), as in the seen-set.
#[derive(PartialEq)]
pub struct NameIndex {
    table: HashTable,
}

impl NameIndex {
    /// An index that holds `n` items without growing (when few have
    /// qualifiers).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            table: HashTable::with_capacity(n),
        }
    }

    /// The index of the earlier item `key` merges into.
    pub fn find(&self, key: &NameKey) -> Option<usize> {
        let entry = self.table.get(key.head_hash())?;
        let first = (entry & !QUALIFIED) as usize;
        // An unqualified item is always the first with its head: a later
        // one would have merged into the first.
        match key.pair_hash() {
            None => Some(first),
            Some(_) if entry & QUALIFIED == 0 => Some(first),
            Some(pair) => self.table.get(pair).map(|i| i as usize),
        }
    }

    /// Records the item at `index` under `key`; earlier items keep theirs.
    pub fn insert(&mut self, key: &NameKey, index: usize) {
        self.insert_hashes(NameHashes::of(key), index);
    }

    /// [`Self::insert`] of a name key's hashes (computed before, or saved).
    pub fn insert_hashes(&mut self, key: NameHashes, index: usize) {
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i < QUALIFIED)
            .expect("the name index holds fewer than 2³¹ items");
        let flag = if key.pair.is_some() { QUALIFIED } else { 0 };
        self.table.insert(key.head, index | flag);
        if let Some(pair) = key.pair {
            self.table.insert(pair, index);
        }
    }

    /// Makes inserting names with these head hashes cheaper (see
    /// [`HashTable::prefetch`]).
    pub fn prefetch(&mut self, heads: &[u128]) {
        self.table.prefetch(heads);
    }

    /// Entries held: heads and (head, qualifier) pairs.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::names::name_key;

    #[test]
    fn the_index_finds_what_the_rule_merges() {
        let items = [
            "Salmaella",
            "Mercury (planet)",
            "Mercury (element)",
            "Toy Story",
            "Paris",
            "Dune (1984)",
        ];
        let mut index = NameIndex::with_capacity(0);
        for (i, item) in items.iter().enumerate() {
            let key = name_key(item).unwrap();
            assert_eq!(index.find(&key), None, "{item}");
            index.insert(&key, i);
        }
        // Heads: 5; pairs: 3.
        assert_eq!(index.len(), 8);
        for (candidate, expected) in [
            ("Salmaella (Bergamo, Italy)", Some(0)),
            ("SALMAELLA", Some(0)),
            ("Mercury", Some(1)),
            ("Mercury (Element)", Some(2)),
            ("Mercury (Roman god)", None),
            ("Toy Story 2", None),
            ("Paris, Texas", None),
            ("Paris (France)", Some(4)),
            ("Dune", Some(5)),
            ("Dune (2021)", None),
        ] {
            let key = name_key(candidate).unwrap();
            assert_eq!(index.find(&key), expected, "{candidate}");
            // The rule and the index agree on the items they find.
            if let Some(i) = expected {
                assert!(name_key(items[i]).unwrap().merges_with(&key));
            }
        }
        // An earlier item keeps its entries.
        index.insert(&name_key("Salmaella (Bergamo)").unwrap(), 9);
        assert_eq!(index.find(&name_key("Salmaella").unwrap()), Some(0));
    }
}
